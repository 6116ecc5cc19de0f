"""Jastrzebski et al. 2021, "Catastrophic Fisher Explosion" (docs/fisher.md): the Fisher trace with labels
sampled from the model, the Fisher penalty by double backprop, the gradient-norm control, and the
learning-rate, penalty and noisy-label experiments."""
