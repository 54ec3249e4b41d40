"""Training (the notebook's kernel): MNIST loaded and verified, split, trained reproducibly, evaluated."""
