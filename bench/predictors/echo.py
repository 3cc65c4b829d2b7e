"""echo: returns its JSON payload unchanged. The one predictor class that
glia, FastAPI + uvicorn and Flask + gunicorn all serve in bench/overhead.sh,
so the difference between them is the serving stack alone."""


class PythonPredictor:
    def __init__(self, config):
        pass

    def predict(self, payload):
        return payload
