"""A stand-in regressor for the monitoring tests: the prediction for
{"x": X} is 2 * X, answered as a bare number, or as {"value": 2 * X} when
config.answer is "object" (for monitoring.key)."""


class PythonPredictor:
    def __init__(self, config):
        self.as_object = config.get("answer") == "object"

    def predict(self, payload):
        value = 2.0 * float(payload["x"])
        return {"value": value} if self.as_object else value
