"""Class-propagation adapters (cGANTransfer, Shahbazi et al. 2021): new classes for a class-conditional generator.

Each new class's conditioning is a learned combination of the old classes' plus a small residual:
    new[m] = S[m] · P + R[m]
with S the (new × old) scores, P a trainable copy of the old parameters shared by all new classes ("pseudo-classes")
and R the residuals — separately for γ and β of every per-class BN layer (ResNet family). For generators whose
classes live in a learned embedding that feeds every layer's γ/β (BigGAN family) the combination is made once, in
that embedding space, as the paper's BigGAN code does.

While training the adapter holds S, P and R; :meth:`ClassPropagationAdapter.collapse` keeps only the final
per-new-class tensors, so a saved adapter grows linearly with the new classes. Old class ids keep their exact
outputs; new classes get ids num_old … num_old + num_new − 1.
"""

from __future__ import annotations

import torch
from torch import nn

from ..models import Generator
from .base import Adapter, CallContext, register_adapter


def _key(name: str) -> str:
    return name.replace(".", "__")


def _targets(generator: Generator) -> dict[str, nn.Module]:
    """What carries the classes: the embedding module, or the per-class BN layers."""
    module = generator.class_embedding_module()
    if module is not None:
        return {"class_embedding": module}
    return {name: layer for name, layer in generator.normalization_layers().items() if layer.class_tables() is not None}


@register_adapter
class ClassPropagationAdapter(Adapter):
    kind = "class_propagation"

    def __init__(self, num_old: int, num_new: int, shapes: dict[str, int], training: bool = False) -> None:
        super().__init__(num_old=num_old, num_new=num_new, shapes=shapes, training=training)
        self.num_old, self.num_new, self.training_form = num_old, num_new, training
        self.tables: dict[str, nn.ParameterDict] = {}
        self.final = nn.ParameterDict()
        if training:
            self.scores = nn.ParameterDict()
            self.pseudo = nn.ParameterDict()
            self.residuals = nn.ParameterDict()
        for name, width in shapes.items():
            for part in ("gamma", "beta") if name != "class_embedding" else ("embedding",):
                key = f"{_key(name)}__{part}"
                if training:
                    self.scores[key] = nn.Parameter(torch.full((num_new, num_old), 1.0 / num_old))
                    self.pseudo[key] = nn.Parameter(torch.zeros(num_old, width))
                    self.residuals[key] = nn.Parameter(torch.zeros(num_new, width))
                else:
                    self.final[key] = nn.Parameter(torch.zeros(num_new, width))

    @classmethod
    def for_training(cls, generator: Generator, num_new: int) -> ClassPropagationAdapter:
        """S = even mix, P = a copy of the old classes' parameters, R = 0: every new class starts as the mean class."""
        k = generator.config.num_classes
        if not k:
            raise ValueError("Class propagation needs a class-conditional generator.")
        targets = _targets(generator)
        shapes = {n: (m.weight.shape[1] if n == "class_embedding" else m.num_features) for n, m in targets.items()}
        adapter = cls(k, num_new, shapes, training=True)
        with torch.no_grad():
            for name, module in targets.items():
                if name == "class_embedding":
                    adapter.pseudo[f"{_key(name)}__embedding"].copy_(generator.embed_classes(torch.arange(k)))
                else:
                    gamma, beta = module.class_tables()
                    adapter.pseudo[f"{_key(name)}__gamma"].copy_(gamma)
                    adapter.pseudo[f"{_key(name)}__beta"].copy_(beta)
        return adapter.to(generator.device)

    def values(self, key: str) -> torch.Tensor:
        """(num_new, width) parameters of the new classes for one table."""
        if self.training_form:
            return self.scores[key] @ self.pseudo[key] + self.residuals[key]
        return self.final[key]

    def collapse(self) -> ClassPropagationAdapter:
        """The saved form: only the final per-new-class tensors (provenance copied)."""
        out = ClassPropagationAdapter(self.num_old, self.num_new, dict(self.config.kwargs["shapes"]), training=False)
        with torch.no_grad():
            for key in out.final:
                out.final[key].copy_(self.values(key))
        for field in ("method", "base_model", "base_model_revision", "base_model_hash", "hyperparameters", "metrics"):
            setattr(out.config, field, getattr(self.config, field))
        return out.to(next(iter(out.final.values())).device)

    def regularizer(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean ‖R‖², mean |S|): cGANTransfer's penalties on residuals (λ_r) and scores (λ_s)."""
        residual = torch.stack([r.pow(2).sum(dim=1).mean() for r in self.residuals.values()]).mean()
        scores = torch.stack([s.abs().mean() for s in self.scores.values()]).mean()
        return residual, scores

    # --- applying ---------------------------------------------------------------------------------------
    def extra_classes(self, generator: Generator) -> int:
        return self.num_new

    def check_compatible(self, generator: Generator) -> None:
        if generator.config.num_classes != self.num_old:
            raise ValueError(
                f"This adapter extends a {self.num_old}-class generator; this one has "
                f"{generator.config.num_classes} classes."
            )
        targets = _targets(generator)
        if set(targets) != set(self.config.kwargs["shapes"]):
            raise ValueError("This class_propagation adapter was made for another generator family.")

    def transform_inputs(self, z, class_labels, class_embedding, context: CallContext):
        """New-class ids become an old id for the generator; the hooks read the asked-for ids from the context."""
        if class_labels is not None:
            labels = torch.as_tensor(class_labels, device=z.device).long()
            if labels.numel() and labels.max() >= self.num_old + self.num_new:
                raise ValueError(f"class_labels must lie in 0..{self.num_old + self.num_new - 1}.")
            class_labels = torch.where(labels >= self.num_old, torch.zeros_like(labels), labels)
        return z, class_labels, class_embedding

    def hooks(self, generator: Generator, context: CallContext):
        def make(name: str):
            def hook(module, args, output):
                labels = None if context.class_labels is None else context.class_labels.long()
                if labels is None or not (labels >= self.num_old).any():
                    return output
                new = labels >= self.num_old
                index = labels[new] - self.num_old
                output = output.clone()
                if name == "class_embedding":
                    output[new] = self.values(f"{_key(name)}__embedding")[index].to(output)
                    return output
                x = module.normalize(args[0][new])
                gamma = self.values(f"{_key(name)}__gamma")[index].to(output)
                beta = self.values(f"{_key(name)}__beta")[index].to(output)
                output[new] = x * gamma[:, :, None, None] + beta[:, :, None, None]
                return output

            return hook

        return [(module, make(name)) for name, module in _targets(generator).items()]
