"""FastAPI app serving the bench predictor on POST /predict, the way a
Cortex-style Python stack does: parse the JSON body, call predict, encode the
result as JSON. Run with uvicorn (bench/lib.sh: start_uvicorn).

The handler is `async def`, so predict runs on the event loop without a
thread-pool hop: the fastest FastAPI can serve a predictor from one worker."""
from fastapi import FastAPI, Request

from predictor_loader import load

predictor = load()
app = FastAPI()


@app.post("/predict")
async def predict(request: Request):
    return predictor.predict(await request.json())
