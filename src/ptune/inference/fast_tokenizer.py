"""The backbone's tokenizer for the ONNX runtime: its `tokenizer.json` run by the `tokenizers`
library, called the way the tasks call a transformers tokenizer (texts, pairs, pre-split words,
question/context windows with a stride, offsets), with the same results. transformers is not
needed to serve exports: a serving install stays small and starts fast.

Only what the tasks use is here; transformers' fast tokenizers are built on the same library and
these calls map onto it one to one (batch encoding, truncation strategies, overflowing windows).
"""
from __future__ import annotations

import json
from pathlib import Path

from ptune.errors import PtuneError

TRUNCATION = {True: "longest_first", "longest_first": "longest_first", "only_second": "only_second",
              "only_first": "only_first"}


class Encoded(dict):
    """What a call returns: lists per key (batched, or one sequence for a single text), and for a
    batch the word and sequence ids of each row."""

    def __init__(self, data: dict, encodings: list):
        super().__init__(data)
        self.encodings = encodings

    def word_ids(self, index: int = 0) -> list[int | None]:
        return self.encodings[index].word_ids

    def sequence_ids(self, index: int = 0) -> list[int | None]:
        return self.encodings[index].sequence_ids


class FastTokenizer:
    def __init__(self, folder: str | Path, *, model_input_names: list[str] | None = None):
        from tokenizers import Tokenizer

        folder = Path(folder)
        try:
            self.backend = Tokenizer.from_file(str(folder / "tokenizer.json"))
        except Exception as err:  # the library's own error types: a missing or foreign file
            raise PtuneError(f"{folder / 'tokenizer.json'}: cannot be read as a fast tokenizer ({err}); the ONNX "
                             "runtime needs the backbone's tokenizer.json: export the adapter again") from None
        try:
            settings = json.loads((folder / "tokenizer_config.json").read_text())
        except (OSError, json.JSONDecodeError):
            settings = {}
        self.model_input_names = list(model_input_names or ["input_ids", "token_type_ids", "attention_mask"])
        for role in ("pad", "mask", "cls", "bos", "unk", "sep"):
            token = settings.get(f"{role}_token")
            token = token.get("content") if isinstance(token, dict) else token
            setattr(self, f"{role}_token", token)
            setattr(self, f"{role}_token_id", self.backend.token_to_id(token) if token else None)
        self.backend.no_padding()

    def tokenize(self, text: str) -> list[str]:
        return self.backend.encode(text, add_special_tokens=False).tokens

    def convert_tokens_to_ids(self, tokens: list[str]) -> list[int]:
        return [self.token_id(token) for token in tokens]

    def token_id(self, token: str) -> int | None:
        found = self.backend.token_to_id(token)
        return self.unk_token_id if found is None else found

    def __call__(self, text, text_pair=None, *, add_special_tokens: bool = True, truncation=False,
                 max_length: int | None = None, stride: int = 0, return_overflowing_tokens: bool = False,
                 return_offsets_mapping: bool = False, padding=False, is_split_into_words: bool = False) -> Encoded:
        if padding:
            raise PtuneError("FastTokenizer pads nowhere: batches are padded after sorting by length")
        single = isinstance(text, str) or (is_split_into_words and text and isinstance(text[0], str))
        texts = [text] if single else list(text)
        pairs = None if text_pair is None else ([text_pair] if single else list(text_pair))
        if truncation and max_length is not None:
            self.backend.enable_truncation(max_length, stride=stride, strategy=TRUNCATION[truncation], direction="right")
        else:
            self.backend.no_truncation()
        inputs = texts if pairs is None else list(zip(texts, pairs))
        found = self.backend.encode_batch(inputs, add_special_tokens=add_special_tokens,
                                          is_pretokenized=is_split_into_words) if inputs else []
        rows, owners = [], []
        for index, encoding in enumerate(found):
            windows = [encoding, *encoding.overflowing] if return_overflowing_tokens else [encoding]
            rows += windows
            owners += [index] * len(windows)
        data = {"input_ids": [r.ids for r in rows]}
        if "token_type_ids" in self.model_input_names:
            data["token_type_ids"] = [r.type_ids for r in rows]
        data["attention_mask"] = [r.attention_mask for r in rows]
        if return_offsets_mapping:
            data["offset_mapping"] = [list(r.offsets) for r in rows]
        if return_overflowing_tokens:
            data["overflow_to_sample_mapping"] = owners
        if single and not return_overflowing_tokens:
            data = {key: value[0] for key, value in data.items()}
        return Encoded(data, rows)
