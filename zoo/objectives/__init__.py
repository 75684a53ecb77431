"""Training objectives: adversarial losses, and the f-divergences of f-GAN.

``divergences`` holds the f-GAN table (Nowozin, Cseke & Tomioka 2016, Tables 1-2),
``fgan_losses`` the f-GAN saddle objective (Eq. 6), and ``lambert_w`` the Lambert W
function that the Jeffrey divergence's conjugate needs.
"""
