VALUE = "from-python-path"
