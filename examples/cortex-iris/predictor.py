# predictor.py: the Cortex iris-classifier predictor (Cortex v0.2x
# PythonPredictor interface: __init__(self, config), predict(self, payload)).
#
# Cortex's example downloaded a pickled model from S3
# (config["bucket"], config["key"]). This copy keeps the interface and the
# config but needs no network: it loads model.pkl from the project directory
# when `python trainer.py` produced one, and otherwise trains the same model
# on the iris data set that ships inside scikit-learn.

import os
import pickle

labels = ["setosa", "versicolor", "virginica"]


def train():
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    iris = load_iris()
    return LogisticRegression(max_iter=1000).fit(iris.data, iris.target)


class PythonPredictor:
    def __init__(self, config):
        model_path = os.path.basename(config.get("key", "model.pkl"))
        if os.path.exists(model_path):
            with open(model_path, "rb") as f:
                self.model = pickle.load(f)
        else:
            self.model = train()

    def predict(self, payload):
        measurements = [
            payload["sepal_length"],
            payload["sepal_width"],
            payload["petal_length"],
            payload["petal_width"],
        ]

        label_id = self.model.predict([measurements])[0]
        return labels[label_id]
