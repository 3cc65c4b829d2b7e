# trainer.py: trains the iris model and pickles it to model.pkl, as Cortex's
# example did before uploading it to S3. Optional: predictor.py trains the
# same model itself when model.pkl is absent.
import pickle

from predictor import train

model = train()
with open("model.pkl", "wb") as f:
    pickle.dump(model, f)
print("wrote model.pkl")
