"""Reading your own images with a trained model: pictures made MNIST-like, predictions and their accuracy."""
