"""A small picture classifier: its class probabilities and penultimate features drive the
classifier-based metrics (class shares, classifier score, Fréchet distance on features)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from ganforge.checkpoint import load_checkpoint, save_checkpoint
from ganforge.errors import GanforgeError

FEATURES = 128  # size of the penultimate layer


class Classifier(nn.Module):
    """Two blocks of two convolutions, a feature layer and a linear read-out, for any
    picture size.

    Args:
        channels: colour channels of the pictures (1 or 3).
        n_classes: number of classes.
    """

    def __init__(self, channels: int, n_classes: int) -> None:
        super().__init__()
        self.channels, self.n_classes = channels, n_classes
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(64, 64, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(4),
            nn.Flatten(),
            nn.Dropout(0.25),
            nn.Linear(64 * 16, FEATURES),
            nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Dropout(0.25), nn.Linear(FEATURES, n_classes))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Pictures ``(N, C, H, W)`` in [-1, 1] → (features ``(N, 128)``, logits ``(N, K)``)."""
        features = self.body(x)
        return features, self.head(features)


def _to_float(images: np.ndarray) -> Tensor:
    """uint8 ``(N, H, W, C)`` → float ``(N, C, H, W)`` in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 127.5 - 1


def _shift(x: Tensor, generator: torch.Generator, max_shift: int = 2) -> Tensor:
    """The batch rolled by a random whole number of pixels (at most ``max_shift`` each way):
    a cheap augmentation that makes the classifier robust to placement."""
    if max_shift == 0:
        return x
    dy, dx = torch.randint(-max_shift, max_shift + 1, (2,), generator=generator).tolist()
    return torch.roll(x, shifts=(dy, dx), dims=(2, 3))


@dataclass
class TrainedClassifier:
    """A classifier with what is known about it: classes and held-out accuracy."""

    model: Classifier
    classes: list[str]
    accuracy: float
    shape: tuple[int, int, int]

    @torch.no_grad()
    def predict(self, images: np.ndarray, batch_size: int = 500) -> tuple[np.ndarray, np.ndarray]:
        """uint8 ``(N, H, W, C)`` → (features ``(N, 128)``, class probabilities ``(N, K)``)."""
        shape = (images.shape[3], images.shape[1], images.shape[2])
        if shape != self.shape:
            raise GanforgeError(
                f"the classifier takes pictures of shape {self.shape} (C, H, W), got {shape}; "
                "train one on data of this shape"
            )
        self.model.eval()
        feats, probs = [], []
        for i in range(0, len(images), batch_size):
            f, logits = self.model(_to_float(images[i : i + batch_size]))
            feats.append(f.double().numpy())
            probs.append(torch.softmax(logits.double(), 1).numpy())
        return np.concatenate(feats), np.concatenate(probs)

    def save(self, path: str | Path) -> None:
        """Writes the weights and description as one safetensors file (no pickle)."""
        info = {"classes": self.classes, "accuracy": self.accuracy, "shape": list(self.shape)}
        save_checkpoint(
            path, {"kind": "classifier", "info": info, "model": self.model.state_dict()}
        )

    @classmethod
    def load(cls, path: str | Path) -> TrainedClassifier:
        """Reads what :meth:`save` wrote."""
        path = Path(path)
        hint = "train one with `ganforge train-classifier DATA -o FILE`"
        if not path.is_file():
            raise GanforgeError(f"classifier file {path} does not exist; {hint}")
        try:
            state = load_checkpoint(path)
        except GanforgeError:
            state = {}
        if state.get("kind") != "classifier":
            raise GanforgeError(f"{path} is not a ganforge classifier file; {hint}")
        info = state["info"]
        shape = tuple(info["shape"])
        model = Classifier(shape[0], len(info["classes"]))
        model.load_state_dict(state["model"])
        return cls(model.eval(), list(info["classes"]), float(info["accuracy"]), shape)


def train_classifier(
    images: np.ndarray,
    labels: np.ndarray,
    classes: list[str] | None = None,
    *,
    epochs: int = 12,
    holdout: float = 0.1,
    batch_size: int = 64,
    seed: int = 0,
) -> TrainedClassifier:
    """Trains a :class:`Classifier` on uint8 ``(N, H, W, C)`` pictures and integer labels.

    A seeded, class-blind random ``holdout`` share is kept out of training; the accuracy on
    it is reported. Adam (1e-3, halved every 4 epochs), random shifts of up to 2 pixels.
    """
    if labels is None or len(labels) != len(images):
        raise GanforgeError("training a classifier needs one label per picture; use labelled data")
    labels = np.asarray(labels, dtype=np.int64)
    n_classes = int(labels.max()) + 1
    classes = classes or [str(k) for k in range(n_classes)]
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(images), generator=g).numpy()
    n_test = max(1, int(round(holdout * len(images))))
    test, train = order[:n_test], order[n_test:]
    x, y = _to_float(images[train]), torch.from_numpy(labels[train])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Classifier(images.shape[3], len(classes))
        optimizer = torch.optim.Adam(model.parameters(), 1e-3)
        schedule = torch.optim.lr_scheduler.StepLR(optimizer, 4, 0.5)
        for _ in range(epochs):
            model.train()
            perm = torch.randperm(len(x), generator=g)
            for i in range(0, len(x), batch_size):
                idx = perm[i : i + batch_size]
                _, logits = model(_shift(x[idx], g, min(x.shape[2:]) // 14))
                loss = nn.functional.cross_entropy(logits, y[idx])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            schedule.step()
    shape = (images.shape[3], images.shape[1], images.shape[2])
    trained = TrainedClassifier(model.eval(), classes, 0.0, shape)
    _, probs = trained.predict(images[test])
    trained.accuracy = float((probs.argmax(1) == labels[test]).mean())
    return trained


__all__ = ["FEATURES", "Classifier", "TrainedClassifier", "train_classifier"]
