"""The ``pcm3`` method: prompted contrast with masked motion modeling (ACM MM 2023).

One training step takes three augmented views of every sample (the ``pcm3_views``
transform stacks them on the channel axis) and computes, with the query encoder
``encoder`` + ``projector`` and the momentum key encoder:

* ``q``: view 1; ``k``: view 2 through the key encoder (no gradient);
* the **masked view**: view 3 with body parts hidden (``masker``), encoded as a whole
  sequence; its last frame gives ``mask_q``, every frame feeds the predictor (per-frame MLP)
  and a 2-layer GRU decoder that reconstructs the 150 coordinates of every frame;
* the **predicted view**: the reconstruction at the hidden positions and view 3 elsewhere,
  encoded into ``recons_q``;
* the **mixed view** ``pc``: view 1 with body parts swapped between samples
  (:mod:`skelkit_pcm3.mixing`), whose key is the mix of the two samples' keys.

Loss (the official ``PCM3_wprompt``): ``CE(q) + CE(pc | mixed key) + CE(mask_q) +
CE(recons_q) + kl_weight * KL + rec_weight * MSE``, where every CE is InfoNCE against
``k`` and the queue (``loss`` section), KL is the queue-similarity term of
:mod:`skelkit_pcm3.losses` summed over the four queries (teachers ``k``, mixed key, ``k``,
``k``), and MSE is the squared error of the reconstruction on the hidden coordinates of
view 3, averaged over them.

Official details kept on purpose: the decoder runs twice, once on detached features (its
output builds the predicted view, so the contrastive loss of ``recons_q`` trains only the
predictor and decoder) and once on the encoder's features (the MSE); the dual prompts
(``base``/``mask``/``recons``/``mix`` added to the raw inputs, ``cl`` to the last-frame
feature of every contrastive branch, ``mp`` to every frame before the predictor) with a
fresh random offset for every task-prompt use; the key encoder uses ``base`` and the
current ``cl`` prompt; only the plain key is enqueued, after the losses. The ``plain``
variant (the official motion and bone streams, ``PCM3_woprompt``) uses no prompts, runs the
decoder once, feeds the predicted view detached, and leaves the KL term out of the loss.

The momentum update of the key encoder (parameters only, BatchNorm statistics stay its
own) runs in :meth:`PCM3Method.after_optimizer_step`, which gives the same keys as the
official update at the start of the next forward.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from skelkit.errors import ConfigError
from skelkit_pcm3.encoder import GruEncoder
from skelkit_pcm3.losses import InfoNCE, QueueKL
from skelkit_pcm3.masking import BodyPartMasker
from skelkit_pcm3.mixing import MixDraw, draw_mix, mix_view
from skelkit_pcm3.streams import to_stream

VARIANTS = ("auto", "prompted", "plain")
#: Task-prompt uses per step, in the official order of their random offsets.
PROMPT_USES = ("q", "mp", "mask_q", "recons_q", "pc", "k")
INPUT_PROMPTS = ("base_prompt", "mask_prompt", "recons_prompt", "mix_prompt")
TASK_PROMPTS = ("cl_prompt", "mp_prompt")


@dataclass(frozen=True)
class StepDraws:
    """Every random choice of one step (drawn, or given by tests).

    Attributes:
        parts: the hidden body parts of every chunk (the masker's draw).
        mix: the mixed view's draw.
        offsets: task-prompt offset of every use in :data:`PROMPT_USES` (prompted variant).
    """

    parts: list[list[int]]
    mix: MixDraw
    offsets: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class PCM3Output:
    """What one forward computed (for tests and logs)."""

    loss: Tensor
    terms: dict[str, Tensor]
    logits: dict[str, Tensor]
    reconstruction: Tensor
    key: Tensor


class GruDecoder(nn.Module):
    """The official reconstruction decoder: a unidirectional GRU and a Linear to the input."""

    def __init__(self, width: int, out_features: int, num_layers: int = 2) -> None:
        super().__init__()
        self.decoder = nn.GRU(width, width, num_layers=num_layers, batch_first=True)
        self.reconstruction = nn.Linear(width, out_features)

    def forward(self, x: Tensor) -> Tensor:
        """``(N, T, width) -> (N, T, out_features)``."""
        out, _ = self.decoder(x)
        return self.reconstruction(out)


def projection_head(encoder_dim: int, dim: int) -> nn.Sequential:
    """``Linear(D, D) -> ReLU -> Linear(D, dim)``; the last layer xavier-initialised."""
    head = nn.Sequential(
        nn.Linear(encoder_dim, encoder_dim), nn.ReLU(), nn.Linear(encoder_dim, dim)
    )
    last = head[2]
    assert isinstance(last, nn.Linear)
    nn.init.xavier_uniform_(last.weight)
    return head


class PCM3Method(nn.Module):
    """PCM3 over a :class:`~skelkit_pcm3.encoder.GruEncoder` (see the module docstring).

    ``encoder`` is what evaluation and export use.
    """

    queue: Tensor
    queue_ptr: Tensor

    def __init__(
        self,
        encoder: GruEncoder,
        masker: BodyPartMasker,
        loss: InfoNCE,
        *,
        dim: int,
        queue_size: int,
        momentum: float,
        kl: QueueKL,
        kl_weight: float,
        rec_weight: float,
        decoder_dim: int,
        decoder_layers: int,
        prompt_size: int,
        prompted: bool,
        mix_parts: tuple[int, int],
        mix_segments: tuple[int, int],
        mix_segment_length: int,
    ) -> None:
        super().__init__()
        width = encoder.feature_dim
        self.encoder = encoder
        self.projector = projection_head(width, dim)
        self.key_encoder = copy.deepcopy(encoder)
        self.key_projector = copy.deepcopy(self.projector)
        for param in [*self.key_encoder.parameters(), *self.key_projector.parameters()]:
            param.requires_grad = False
        self.predictor = nn.Sequential(
            nn.Linear(width, decoder_dim),
            nn.BatchNorm1d(decoder_dim),
            nn.ReLU(inplace=True),
            nn.Linear(decoder_dim, decoder_dim),
        )
        self.decoder = GruDecoder(decoder_dim, encoder.in_features, decoder_layers)
        self.masker = masker
        self.contrast = loss
        self.kl = kl
        self.kl_weight = kl_weight
        self.rec_weight = rec_weight
        self.momentum = momentum
        self.prompted = prompted
        self.prompt_size = prompt_size
        self.mix_parts = mix_parts
        self.mix_segments = mix_segments
        self.mix_segment_length = mix_segment_length
        if prompted:
            for name in TASK_PROMPTS:
                self.register_parameter(name, nn.Parameter(torch.zeros(1, 2 * prompt_size)))
            for name in INPUT_PROMPTS:
                self.register_parameter(name, nn.Parameter(torch.zeros(1, 1, encoder.in_features)))
            for name in (*TASK_PROMPTS, *INPUT_PROMPTS):
                nn.init.xavier_uniform_(getattr(self, name))
        self.register_buffer("queue", F.normalize(torch.randn(dim, queue_size), dim=0))
        self.register_buffer("queue_ptr", torch.zeros(1, dtype=torch.long))

    # -- pieces ------------------------------------------------------------------------------

    def split_views(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The three views stacked on the channel axis by the ``pcm3_views`` transform."""
        c = self.encoder.in_channels
        if x.ndim != 5 or x.shape[1] != 3 * c:
            raise ConfigError(
                f"method 'pcm3' needs three views per sample, stacked on the channel axis "
                f"((N, {3 * c}, T, V, M)), got a batch of shape {tuple(x.shape)}; set "
                "train_transform.name=pcm3_views"
            )
        v1, v2, v3 = x.split(c, dim=1)
        stream = self.encoder.stream
        return to_stream(v1, stream), to_stream(v2, stream), to_stream(v3, stream)

    def draw(self, batch: int, frames: int) -> StepDraws:
        """Draw the step's randomness from torch's global generator (seeded per step)."""
        parts = self.masker.draw()
        mix = draw_mix(batch, frames, self.mix_parts, self.mix_segments, self.mix_segment_length)
        offsets: dict[str, int] = {}
        if self.prompted:
            high = self.encoder.hidden_size - self.prompt_size
            for use in PROMPT_USES:
                offsets[use] = int(torch.randint(0, high, (1,)))
        return StepDraws(parts=parts, mix=mix, offsets=offsets)

    def prompt(self, name: str) -> Tensor:
        """The prompt parameter ``name`` (``cl_prompt``, ``base_prompt`` ...)."""
        value = getattr(self, name)
        assert isinstance(value, Tensor), f"no prompt {name} (plain variant)"
        return value

    def task_prompt(self, prompt: Tensor, offset: int) -> Tensor:
        """The ``(1, D)`` vector adding both halves of a task prompt at ``offset``."""
        hidden, size = self.encoder.hidden_size, self.prompt_size
        if not 0 <= offset <= hidden - size:
            raise ValueError(f"prompt offset {offset} outside [0, {hidden - size}]")
        pad = (offset, hidden - offset - size)
        return torch.cat([F.pad(prompt[:, :size], pad), F.pad(prompt[:, size:], pad)], dim=1)

    def _embed(self, last: Tensor, offset: int | None, key: bool = False) -> Tensor:
        if offset is not None:
            last = last + self.task_prompt(self.prompt("cl_prompt"), offset)
        head = self.key_projector if key else self.projector
        return F.normalize(head(last), dim=1)

    def _query(self, flat: Tensor, prompt: str | None, offset: int | None) -> Tensor:
        if prompt is not None:
            flat = flat + self.prompt(prompt)
        return self._embed(self.encoder.sequence(flat)[:, -1], offset)

    def _negatives(self, z: Tensor) -> Tensor:
        return z @ self.queue.detach().clone()

    # -- forward -----------------------------------------------------------------------------

    def forward(self, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        """Loss of one batch and the scalars to log (detached 0-d tensors)."""
        out = self.forward_views(*self.split_views(batch["x"]))
        logs = {"loss": out.loss.detach()}
        logs.update({name: value.detach() for name, value in out.terms.items()})
        return out.loss, logs

    def forward_views(
        self,
        view1: Tensor,
        view2: Tensor,
        view3: Tensor,
        draws: StepDraws | None = None,
        enqueue: bool = True,
    ) -> PCM3Output:
        """One PCM3 step on three views ``(N, C, T, V, M)`` of the encoder's stream."""
        enc = self.encoder
        n, _, t, v, _ = view1.shape
        draws = draws if draws is not None else self.draw(n, t)
        prompt = self.prompted
        offsets: dict[str, int | None] = {
            use: draws.offsets.get(use) if prompt else None for use in PROMPT_USES
        }
        if prompt and any(o is None for o in offsets.values()):
            raise ValueError(f"the prompted variant needs an offset for each of {PROMPT_USES}")

        visible = self.masker.visible(t, v, draws.parts).to(view3)  # (T, V)
        keep = visible[None, None, :, :, None].expand_as(view3).clone()  # (N, C, T, V, M)
        keep[..., 1:] = 1.0  # the second person stays visible
        keep_flat = enc.flatten(keep)
        with torch.no_grad():
            partner, mixed, lam = mix_view(view1, draws.mix, self.mix_segment_length)
        flat1, flat2, flat3 = enc.flatten(view1), enc.flatten(view2), enc.flatten(view3)
        masked = flat3 * keep_flat

        q = self._query(flat1, "base_prompt" if prompt else None, offsets["q"])
        seq = enc.sequence(masked + self.prompt("mask_prompt") if prompt else masked)
        if prompt:
            mp_offset = offsets["mp"]
            assert mp_offset is not None
            feat = seq + self.task_prompt(self.prompt("mp_prompt"), mp_offset)
            # The official double run: the predicted view's decoder input is detached.
            recons_cl = self.decoder(self._predict(feat.detach()))
            recons = self.decoder(self._predict(feat))
        else:
            recons = self.decoder(self._predict(seq))
            recons_cl = recons.detach()
        mask_q = self._embed(seq[:, -1], offsets["mask_q"])
        predicted = recons_cl * (1 - keep_flat) + masked * keep_flat
        recons_q = self._query(predicted, "recons_prompt" if prompt else None, offsets["recons_q"])
        pc = self._query(enc.flatten(mixed), "mix_prompt" if prompt else None, offsets["pc"])

        with torch.no_grad():
            base = flat2 + self.prompt("base_prompt") if prompt else flat2
            k = self._embed(self.key_encoder.sequence(base)[:, -1], offsets["k"], key=True)
            mixed_key = F.normalize(k * (1 - lam) + k[partner] * lam, dim=1)
            k_neg = self._negatives(k)
            mixed_neg = self._negatives(mixed_key)

        neg = {
            name: self._negatives(z)
            for name, z in (("q", q), ("mix", pc), ("mask", mask_q), ("recons", recons_q))
        }
        logits = {
            "q": self.contrast.logits(q, k, neg["q"]),
            "mix": self.contrast.logits(pc, mixed_key, neg["mix"]),
            "mask": self.contrast.logits(mask_q, k, neg["mask"]),
            "recons": self.contrast.logits(recons_q, k, neg["recons"]),
        }
        ce = self.contrast.from_logits
        terms = {
            "loss_base": ce(logits["q"]),
            "loss_mix": ce(logits["mix"]),
            "loss_mp": ce(logits["mask"]) + ce(logits["recons"]),
        }
        with torch.set_grad_enabled(prompt and torch.is_grad_enabled()):
            # The plain variant computes the KL term only to log it.
            kl = (
                self.kl(neg["q"], k_neg)
                + self.kl(neg["mix"], mixed_neg)
                + self.kl(neg["mask"], k_neg)
                + self.kl(neg["recons"], k_neg)
            )
        hidden = 1 - keep_flat
        terms["loss_rec"] = (((recons - flat3) * hidden) ** 2).sum() / hidden.sum().clamp_min(1)
        terms["loss_kl"] = kl * self.kl_weight
        loss = terms["loss_base"] + terms["loss_mix"] + terms["loss_mp"]
        loss = loss + self.rec_weight * terms["loss_rec"]
        if prompt:
            loss = loss + terms["loss_kl"]
        if enqueue:
            self.enqueue(k)
        return PCM3Output(
            loss=loss,
            terms=terms,
            logits=logits,
            reconstruction=enc.unflatten(recons),
            key=k,
        )

    def _predict(self, feat: Tensor) -> Tensor:
        n, t, d = feat.shape
        return self.predictor(feat.reshape(n * t, d)).reshape(n, t, -1)

    # -- state -------------------------------------------------------------------------------

    @torch.no_grad()
    def enqueue(self, keys: Tensor) -> None:
        """Write ``keys`` (gathered from every rank under DDP) into the queue ring."""
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            gathered = [torch.empty_like(keys) for _ in range(torch.distributed.get_world_size())]
            torch.distributed.all_gather(gathered, keys.contiguous())
            keys = torch.cat(gathered)
        size = self.queue.shape[1]
        ptr = int(self.queue_ptr)
        index = (ptr + torch.arange(keys.shape[0], device=keys.device)) % size
        self.queue[:, index] = keys.T.to(self.queue.dtype)
        self.queue_ptr[0] = (ptr + keys.shape[0]) % size

    @torch.no_grad()
    def momentum_update(self) -> None:
        """``key <- m * key + (1 - m) * query`` over the parameters (not BN statistics)."""
        pairs = (
            (self.encoder, self.key_encoder),
            (self.projector, self.key_projector),
        )
        for query, key in pairs:
            for q, k in zip(query.parameters(), key.parameters(), strict=True):
                k.mul_(self.momentum).add_(q.detach(), alpha=1.0 - self.momentum)

    def after_optimizer_step(self, step: int, total_steps: int) -> None:
        """Engine hook: the momentum update of the key encoder after every optimizer step."""
        self.momentum_update()


def build_pcm3(
    *,
    encoder: Any,
    masker: Any,
    loss: Any,
    dim: int = 128,
    queue_size: int = 16384,
    momentum: float = 0.999,
    teacher_temperature: float = 0.05,
    student_temperature: float = 0.1,
    kl_weight: float = 1.0,
    rec_weight: float = 40.0,
    decoder_dim: int = 512,
    decoder_layers: int = 2,
    prompt_size: int = 128,
    variant: str = "auto",
    mix_parts: tuple[int, int] = (2, 3),
    mix_segments: tuple[int, int] = (7, 11),
    mix_segment_length: int = 4,
) -> PCM3Method:
    """Factory of the ``pcm3`` method (defaults: the official joint-stream run).

    ``encoder`` (a ``gru`` encoder), ``masker`` (``body_parts``) and ``loss`` (``infonce``)
    are built from their config sections and passed in.

    Args:
        dim: width of the normalised projections (and of the queue).
        queue_size: negatives kept in the queue (16384).
        momentum: key-encoder momentum (0.999).
        teacher_temperature, student_temperature: the KL term's temperatures.
        kl_weight: weight of the KL term (CMD's ``cmd_weight``).
        rec_weight: weight of the masked reconstruction MSE (40).
        decoder_dim: width of the predictor MLP and of the GRU decoder (512).
        decoder_layers: GRU decoder layers (2).
        prompt_size: width of each half of the two task prompts (128; prompts are
            ``2 * prompt_size`` wide, one half per GRU direction).
        variant: ``prompted`` (official joint stream), ``plain`` (official motion and bone
            streams: no prompts, no KL in the loss) or ``auto`` (prompted for the joint
            stream, plain for motion and bone, as the official scripts run them).
        mix_parts: inclusive range of body parts swapped by the mixed view.
        mix_segments: inclusive range of swapped segments; mix_segment_length: frames per
            segment (4).
    """
    if not isinstance(encoder, GruEncoder):
        raise ConfigError(
            f"method 'pcm3' needs the gru encoder (encoder.name=gru), got {type(encoder).__name__}"
        )
    if not isinstance(masker, BodyPartMasker):
        raise ConfigError(
            f"method 'pcm3' needs the body_parts masker (masker.name=body_parts), got "
            f"{type(masker).__name__}"
        )
    if not isinstance(loss, InfoNCE):
        raise ConfigError(
            f"method 'pcm3' needs the infonce loss (loss.name=infonce), got {type(loss).__name__}"
        )
    if variant not in VARIANTS:
        raise ConfigError(f"method.variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
    for key, value in (
        ("dim", dim),
        ("queue_size", queue_size),
        ("decoder_dim", decoder_dim),
        ("decoder_layers", decoder_layers),
        ("prompt_size", prompt_size),
        ("mix_segment_length", mix_segment_length),
    ):
        if value < 1:
            raise ConfigError(f"method.{key} must be >= 1, got {value}")
    if not 0.0 <= momentum < 1.0:
        raise ConfigError(f"method.momentum must be in [0, 1), got {momentum}")
    if prompt_size >= encoder.hidden_size:
        raise ConfigError(
            f"method.prompt_size={prompt_size} must be smaller than encoder.hidden_size="
            f"{encoder.hidden_size}"
        )
    for key, pair in (("mix_parts", mix_parts), ("mix_segments", mix_segments)):
        if len(pair) != 2 or not 0 < pair[0] <= pair[1]:
            raise ConfigError(f"method.{key} must be two increasing positive values, got {pair}")
    if mix_parts[1] > 5:
        raise ConfigError(f"method.mix_parts can not exceed the 5 body parts, got {mix_parts}")
    from skelkit_pcm3.losses import build_queue_kl

    prompted = variant == "prompted" or (variant == "auto" and encoder.stream == "joint")
    return PCM3Method(
        encoder,
        masker,
        loss,
        dim=dim,
        queue_size=queue_size,
        momentum=momentum,
        kl=build_queue_kl(student_temperature, teacher_temperature),
        kl_weight=kl_weight,
        rec_weight=rec_weight,
        decoder_dim=decoder_dim,
        decoder_layers=decoder_layers,
        prompt_size=prompt_size,
        prompted=prompted,
        mix_parts=(int(mix_parts[0]), int(mix_parts[1])),
        mix_segments=(int(mix_segments[0]), int(mix_segments[1])),
        mix_segment_length=mix_segment_length,
    )
