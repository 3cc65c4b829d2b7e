import os
import pickle

LABELS = ["setosa", "versicolor", "virginica"]
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


class PythonPredictor:
    def __init__(self, config, python_client):
        self.client = python_client

    def load_model(self, model_path):
        with open(os.path.join(model_path, "model.pkl"), "rb") as f:
            return pickle.load(f)

    def predict(self, payload, query_params):
        model = self.client.get_model(query_params.get("model", "logreg"),
                                      query_params.get("version", "latest"))
        row = [[payload[name] for name in FEATURES]]
        label = int(model.predict(row)[0])
        return {"species": LABELS[label], **model.glia_info}
