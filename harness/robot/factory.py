"""What a trial session runs besides the backend: its model policies, the policy now driving, the validator.

The robot layer cannot see the simulator (`harness.sim` sits above it), so building the backend and the oracle for
`--robot sim` happens in `harness.sim.factory`, which uses these pieces for everything else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.models.check import REFERENCE_FILE, NoReferenceError, check_model
from harness.models.hub import ModelLoadError
from harness.policy.base import Policy, Validator
from harness.policy.factory import make_policy
from harness.policy.grammar import GrammarError
from harness.policy.validators import ValidatorSetupError, make_validator
from harness.robot.console import OperatorConsole, OperatorValidator
from harness.serve.errors import PolicyServerError
from harness.serve.remote import remote_policy
from harness.specs.model import ModelSpec

if TYPE_CHECKING:
    from harness.models.loaded import LoadedModel


class SetupError(ValueError):
    """A session cannot be set up as asked (a model, validator or robot that do not go together); says the fix."""


class CurrentPolicy:
    """Remembers which policy the session is running, so `--validator self` asks that policy's own model."""

    def __init__(self, policies: dict[str, Policy] | None = None):
        self.policies: dict[str, Policy] = dict(policies or {})
        self.policy: Policy | None = None

    def policy_for(self, name: str) -> Policy:
        """The session's policy factory: switch to `name`'s policy and return it."""
        self.policy = self.policies[name]
        return self.policy

    def model(self) -> LoadedModel:
        return self.policy.loaded  # type: ignore[union-attr]


def model_policy(spec: ModelSpec) -> Policy:
    """A model spec's policy (loads its weights, or connects to the server of a `type: remote` one); any reason it
    cannot be built becomes a `SetupError`."""
    try:
        return remote_policy(spec) if spec.type == "remote" else make_policy(spec)
    except PolicyServerError as e:
        raise SetupError(f"model {spec.name!r}: {e} (start the server, or check --model's URL)") from e
    except (NotImplementedError, ValueError, OSError, ModelLoadError, GrammarError) as e:
        raise SetupError(f"model {spec.name!r}: {e}") from e


def check_policy_models(policies: dict[str, Policy]) -> list[str]:
    """Run `vlm2vla check-model`'s probe on every policy whose model has a trained adapter with a check reference;
    a mismatch raises `SetupError` naming what differs (the session must not start). Returns notes for the
    models that could not be checked (no adapter, or an adapter saved before references were written)."""
    notes = []
    for name, policy in policies.items():
        loaded = getattr(policy, "loaded", None)
        adapter = getattr(loaded, "adapter_dir", None)
        if loaded is None or adapter is None:
            continue
        try:
            result = check_model(loaded, adapter)
        except NoReferenceError:
            notes.append(f"model {name!r}: no {REFERENCE_FILE} in {adapter}, not checked")
            continue
        if not result.ok:
            raise SetupError(f"model {name!r} does not answer its check probe as when it was trained "
                             f"({result.reference}):\n  " + "\n  ".join(result.differences)
                             + "\n(fix the environment, or pass --skip-model-check to run anyway)")
    return notes


def session_validator(name: str, console: OperatorConsole, current: CurrentPolicy) -> Validator:
    """The closed-loop validator `name`; `self` needs `current.policies` filled (it asks the running policy's model)."""
    if name == "operator":
        return OperatorValidator(console)
    model = None
    if name == "self":
        lacking = [n for n, p in current.policies.items() if getattr(p, "loaded", None) is None]
        if lacking:
            raise SetupError(f"--validator self asks the policy's own model; {', '.join(lacking)} has none (use a "
                             "gemma3 model, or --validator none|operator|gemini)")
        model = current.model
    try:
        return make_validator(name, model=model)
    except (NotImplementedError, ValueError, ValidatorSetupError) as e:
        raise SetupError(f"--validator {name}: {e}" if not str(e).startswith("--validator") else str(e)) from e
