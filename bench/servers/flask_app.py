"""Flask app serving the bench predictor on POST /predict: parse the JSON
body, call predict, encode the result as JSON. Run with gunicorn
(bench/lib.sh: start_gunicorn)."""
from flask import Flask, jsonify, request

from predictor_loader import load

predictor = load()
app = Flask(__name__)


@app.post("/predict")
def predict():
    return jsonify(predictor.predict(request.get_json(force=True)))
