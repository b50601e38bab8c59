"""Key columns: a unique identifier per row. They are not modelled; each sampled row gets a
new unique key of the column's form: consecutive numbers for integer keys and for text keys
that end in a number after a common prefix (``C-0001``), otherwise random strings drawn
position by position from the classes of the characters seen there (digits, upper-case or
lower-case letters; other characters as they are: ``00M``, ``A3F9-...``), between the start
and the end that every key shares (``...@example.com``)."""

from __future__ import annotations

import os
import re
import string
from typing import Any

import numpy as np
import pandas as pd

from ganforge.errors import GanforgeError

ID_NAME = re.compile(r"(^|[^a-z])(id|ids|key|uuid|guid|code|number|no)$|^id[^a-z]", re.I)
COUNTER = re.compile(r"^(\D*?)(\d+)$")
CLASSES = (string.digits, string.ascii_uppercase, string.ascii_lowercase)
MAX_ROUNDS = 50  # draws of random keys before counters are appended to make them unique


def id_like(name: Any, col: pd.Series) -> bool:
    """Whether a column looks like a key: every value present and unique, and an id-like
    name (``id``, ``user_id``, ``CustomerKey``) or form (integers counting rows; text without
    spaces, all of one length or with digits in it)."""
    if col.isna().any() or not col.is_unique or len(col) < 2:
        return False
    if pd.api.types.is_bool_dtype(col) or pd.api.types.is_float_dtype(col):
        return False
    integer = pd.api.types.is_integer_dtype(col)
    if ID_NAME.search(str(name)):
        return True
    if integer:
        return int(col.max()) - int(col.min()) + 1 == len(col)  # row numbers
    values = col.astype(str)
    if values.str.contains(r"\s", regex=True).any():
        return False
    one_length = values.str.len().nunique() == 1
    return bool(one_length or values.str.contains(r"\d", regex=True).any())


class KeyForm:
    """The form of one key column, learnt by :meth:`fit`, that :meth:`generate` follows."""

    def fit(self, col: pd.Series, name: Any = None) -> KeyForm:
        """Learns the form; duplicated or missing keys are an error."""
        if col.isna().any():
            raise GanforgeError(
                f"key column {name!r} has {int(col.isna().sum())} missing values; a key names "
                "every row: fill them, or leave the column out of --key"
            )
        dups = col[col.duplicated()]
        if len(dups):
            raise GanforgeError(
                f"key column {name!r} has {len(dups)} duplicated values (e.g. {dups.iloc[0]!r}); "
                "a key must be unique: fix them, or leave the column out of --key"
            )
        self.dtype_ = str(col.dtype)
        if pd.api.types.is_integer_dtype(col):
            self.kind_, self.prefix_, self.start_, self.width_ = "counter", None, int(col.min()), 0
            return self
        values = col.astype(str)
        parts = values.str.extract(COUNTER.pattern)
        if parts.notna().all().all() and parts[0].nunique() == 1:
            widths = parts[1].str.len()
            self.kind_, self.prefix_ = "counter", str(parts[0].iloc[0])
            self.start_ = int(parts[1].astype("int64").min())
            self.width_ = int(widths.iloc[0]) if widths.nunique() == 1 else 0
            return self
        self.kind_ = "pattern"
        texts = values.tolist()
        shortest = min(len(v) for v in texts)
        head = os.path.commonprefix(texts)[: shortest - 1]  # a common start and end are kept
        tail = os.path.commonprefix([v[::-1] for v in texts])[::-1]  # (``@example.com``)
        tail = tail[len(tail) - min(len(tail), shortest - 1 - len(head)) :] if tail else ""
        self.prefix_, self.suffix_ = head, tail
        middles = [v[len(head) : len(v) - len(tail)] for v in texts]
        self.lengths_ = [len(v) for v in middles]
        longest = max(self.lengths_)
        self.alphabets_ = [_alphabet({v[i] for v in middles if len(v) > i}) for i in range(longest)]
        return self

    def generate(self, n: int, rng: np.random.Generator) -> pd.Series:
        """``n`` unique keys of the learnt form."""
        if self.kind_ == "counter":
            numbers = np.arange(self.start_, self.start_ + n, dtype=np.int64)
            if self.prefix_ is None:
                return pd.Series(numbers).astype(self.dtype_)
            return pd.Series([f"{self.prefix_}{k:0{self.width_}d}" for k in numbers], dtype=object)
        keys: list[str] = []
        seen: set[str] = set()
        for _ in range(MAX_ROUNDS):
            for key in self._draw(n - len(keys), rng):
                if key not in seen:
                    seen.add(key)
                    keys.append(key)
            if len(keys) == n:
                break
        else:  # too few distinct strings of this form: make the rest unique by a counter
            extra = [f"{k}-{i}" for i, k in enumerate(self._draw(n - len(keys), rng))]
            keys += extra
        return pd.Series(keys, dtype=object)

    def _draw(self, m: int, rng: np.random.Generator) -> list[str]:
        lengths = rng.choice(np.asarray(self.lengths_), size=m)
        chars = np.empty((m, len(self.alphabets_)), dtype="<U1")
        for i, alphabet in enumerate(self.alphabets_):
            chars[:, i] = np.asarray(list(alphabet))[rng.integers(len(alphabet), size=m)]
        head, tail = getattr(self, "prefix_", None) or "", getattr(self, "suffix_", "")
        return [
            head + "".join(row[:length]) + tail for row, length in zip(chars, lengths, strict=True)
        ]

    def state_dict(self) -> dict[str, Any]:
        """The learnt form as JSON-able values."""
        return {k: v for k, v in vars(self).items() if k.endswith("_")}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> KeyForm:
        """Inverse of :meth:`state_dict`."""
        form = cls()
        for k, v in state.items():
            setattr(form, k, v)
        return form


def _alphabet(seen: set[str]) -> str:
    """The characters a position may hold: every digit or letter of each class seen there,
    and the other characters seen."""
    chars = {c for c in seen if not any(c in k for k in CLASSES)}
    for k in CLASSES:
        if seen & set(k):
            chars |= set(k)
    return "".join(sorted(chars))
