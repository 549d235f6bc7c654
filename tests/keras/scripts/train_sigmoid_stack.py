"""A plain Keras training script (no gradmedic in it): a deep sigmoid stack on the digits, fit twice."""

import keras
from sklearn.datasets import load_digits

x, y = load_digits(return_X_y=True)
x = (x / 16.0).astype("float32")
keras.utils.set_random_seed(0)
model = keras.Sequential(
    [keras.Input((64,))] + [keras.layers.Dense(32, activation="sigmoid") for _ in range(8)] + [keras.layers.Dense(10)]
)
model.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
model.fit(x, y, batch_size=64, epochs=1, verbose=0)
model.fit(x, y, 64, 1, 0, [keras.callbacks.History()])  # callbacks given by position
print("trained")
