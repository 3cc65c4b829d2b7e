"""predict takes only query_params (any subset of the arguments works)."""


class PythonPredictor:
    def __init__(self, config):
        self.greeting = config.get("greeting", "hi")

    def predict(self, query_params):
        return {"greeting": self.greeting, "query": dict(query_params)}
