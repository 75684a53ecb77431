"""The f-GAN objective and its two losses (Nowozin, Cseke & Tomioka 2016, Eq. 6).

The f-GAN saddle objective is

    F(ω, θ) = E_{x~P}[g_f(V_ω(x))] - E_{x~Q_θ}[f*(g_f(V_ω(x)))],

a lower bound on ``D_f(P||Q_θ)`` (Eq. 4) for every ω. The variational function
``T_ω = g_f ∘ V_ω`` *maximises* F (tightening the bound); the generator *minimises*
F (Algorithm 1 ascends in ω and descends in θ). Here ``v_real = V_ω(x)`` for ``x``
from the data P and ``v_fake = V_ω(G_θ(z))`` for generated samples; both are raw
network outputs, the activation ``g_f`` is applied here. All functions return the
batch mean, as a scalar tensor to be minimised.

``f*(g_f(·))`` is evaluated through the row's closed form ``conjugate_of_activation``
(e.g. ``softplus`` for GAN), so losses stay finite for large ``|v|``.
"""

from __future__ import annotations

from torch import Tensor

from zoo.objectives.divergences import FDivergence, resolve_divergence


def fgan_objective(v_real: Tensor, v_fake: Tensor, divergence: str | FDivergence) -> Tensor:
    """Monte-Carlo estimate of F(ω, θ) (Eq. 6): ``mean g_f(v_real) - mean f*(g_f(v_fake))``.

    At the optimal ω this approaches ``D_f(P||Q_θ)`` from below.
    """
    row = resolve_divergence(divergence)
    return row.activation(v_real).mean() - row.conjugate_of_activation(v_fake).mean()


def fgan_discriminator_loss(
    v_real: Tensor, v_fake: Tensor, divergence: str | FDivergence
) -> Tensor:
    """Loss of the variational function: ``-F``, so minimising it maximises the bound.

    ``= -mean g_f(v_real) + mean f*(g_f(v_fake))``. For the GAN row this is the usual
    binary cross-entropy of a discriminator with logits ``v``:
    ``softplus(-v_real) + softplus(v_fake)``.
    """
    return -fgan_objective(v_real, v_fake, divergence)


def fgan_generator_loss(
    v_fake: Tensor, divergence: str | FDivergence, practical: bool = False
) -> Tensor:
    """Loss of the generator, minimised over θ.

    ``practical=False`` (the saddle of Eq. 6): θ minimises F, whose θ-dependent part
    is ``-E_Q[f*(g_f(V(G(z))))]``; the loss is ``-mean f*(g_f(v_fake))``. It differs
    from F by the θ-independent term ``E_P[g_f(V)]``, so its gradient in θ is F's.
    For GAN this is ``-softplus(v_fake) = log(1 - D)``, the minimax generator loss.

    ``practical=True`` (Section 3.2): instead *maximise* ``E_Q[g_f(V(G(z)))]``; the
    loss is ``-mean g_f(v_fake)``. For GAN this is ``-log D``, the non-saturating loss.
    """
    row = resolve_divergence(divergence)
    if practical:
        return -row.activation(v_fake).mean()
    return -row.conjugate_of_activation(v_fake).mean()
