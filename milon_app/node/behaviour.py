"""How a contributor treats its work: honestly, or as one of the attacks we defend against.

Attacks exist so the demo, tests and the robustness benchmark can show that
validators reject them and the contract slashes their authors. An honest
node uses :class:`Honest`; nothing in a normal run selects another.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from milon_app.errors import BadInputError

if TYPE_CHECKING:
    import torch

ATTACKS = ("signflip", "noise", "labelflip", "lazy", "noshow", "freeride", "inflate", "oversize")
INFLATED_SAMPLES = 2**40  # what an "inflate" attacker claims: plausible-looking, absurdly many
FREERIDE_NOISE = 1e-6  # a free rider's disguise: the base model plus noise this small


@dataclass(frozen=True)
class Behaviour:
    name: str = "honest"
    scale: float = 10.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.name != "honest" and self.name not in ATTACKS:
            known = ", ".join(ATTACKS)
            raise BadInputError(f"unknown attack {self.name!r}: expected one of {known}")

    @property
    def honest(self) -> bool:
        return self.name == "honest"

    @property
    def commits(self) -> bool:
        """A no-show accepts work and then never commits (to be slashed as missing)."""
        return self.name != "noshow"

    @property
    def trains(self) -> bool:
        return self.name not in ("lazy", "freeride")

    def claimed_samples(self, n: int) -> int:
        """The sample count the node reveals (an "inflate" attacker lies to weigh more)."""
        return INFLATED_SAMPLES if self.name == "inflate" else n

    def labels(self, y: torch.Tensor, num_classes: int) -> torch.Tensor:
        return (num_classes - 1 - y) if self.name == "labelflip" else y

    def tamper(
        self, global_state: Mapping[str, torch.Tensor], state: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        import torch

        if self.name == "signflip":
            return {
                k: (g - self.scale * (state[k] - g)) if g.is_floating_point() else state[k]
                for k, g in global_state.items()
            }
        if self.name in ("noise", "freeride"):
            sd = self.scale if self.name == "noise" else FREERIDE_NOISE
            gen = torch.Generator().manual_seed(self.seed)
            return {
                k: (v + sd * torch.randn(v.shape, generator=gen, dtype=v.dtype))
                if v.is_floating_point()
                else v
                for k, v in state.items()
            }
        if self.name == "oversize":  # padding past the job's size bound rides along
            biggest = max(v.numel() for v in state.values())
            return {**state, "zz_padding": torch.zeros(4 * biggest + 4096)}
        return state


HONEST = Behaviour()
