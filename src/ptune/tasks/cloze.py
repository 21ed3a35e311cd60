"""Cloze classification, P-Tuning's original form: the text placed in a template around a [MASK],
each label scored by its words at the mask.

    template "{prompt} {text} It was [MASK]."   verbalizer {negative: [terrible], positive: [great, good]}
    -> [CLS] <virtual tokens> the film ... It was [MASK] . [SEP]
    -> label score = log of the summed probability of the label's words at [MASK]

The scorer is the backbone's own pretrained MLM head, frozen (BERT, RoBERTa and the other families
loaded with their head): nothing but the prompt trains. A backbone without one (the bundled
MiniLM) is refused. The closest variant that needs no MLM head (the mask state through a trained
map, scored against the label words' frozen input embeddings) scored below the linear head on
MiniLM's learning curve (BENCHMARKS.md, "Small data") and was left out. `{prompt}` marks where
input-level virtual tokens sit: first, right after [CLS] (deep prompts have no position in the text). Only the text is truncated, never the template, so
the [MASK] survives any --max-length that fits the template.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ptune.data.transforms import add_label
from ptune.errors import ConfigError, DataError

MASK = "[MASK]"
SLOTS = ("{prompt}", "{text}", "{text_pair}", MASK)
_PIECES = re.compile(r"(\{prompt\}|\{text\}|\{text_pair\}|\[MASK\])")


def template_problems(template: str) -> list[str]:
    """What is wrong with a template, as messages that say how to fix it (empty: nothing)."""
    found = []
    pieces = _PIECES.split(template)
    stray = sorted(set(re.findall(r"\{[^}]*\}", "".join(pieces[0::2]))))
    if stray:
        found.append(f"template {template!r}: unknown placeholder(s) {stray}; a template takes {list(SLOTS)}")
    for slot, most in (("{text}", 1), ("{text_pair}", 1), ("{prompt}", 1), (MASK, 1)):
        count = pieces[1::2].count(slot)
        if count > most:
            found.append(f"template {template!r}: {slot} appears {count} times; give it once")
    if pieces[1::2].count("{text}") != 1:
        found.append(f"template {template!r}: no {{text}}; the template must say where the text goes")
    if pieces[1::2].count(MASK) != 1:
        found.append(f"template {template!r}: no {MASK}; the template must hold the one [MASK] the labels are scored at")
    if "{prompt}" in pieces[1::2] and template.lstrip().find("{prompt}") != 0:
        found.append(f"template {template!r}: {{prompt}} must open the template: input-level virtual tokens sit "
                     "right after [CLS] (deep prompts have no position in the text)")
    return found


def parse_label_words(value) -> dict[str, list[str]]:
    """`{label: [words]}`, or the command line's "negative=terrible|bad,positive=great"."""
    if isinstance(value, dict):
        return {str(k): [v] if isinstance(v, str) else list(v) for k, v in value.items()}
    words: dict[str, list[str]] = {}
    for item in str(value).split(","):
        label, sep, listed = item.partition("=")
        if not sep or not label.strip() or not listed.strip():
            raise ConfigError("ClassificationConfig", [
                f"label_words {value!r}: {item!r} is not LABEL=WORD[|WORD...]; "
                "write e.g. --label-words negative=terrible|bad,positive=great"])
        words[label.strip()] = [w.strip() for w in listed.split("|") if w.strip()]
    return words


@dataclass(frozen=True)
class Verbalizer:
    """Each label's word ids, in the label set's order."""

    token_ids: list[list[int]]

    @classmethod
    def resolve(cls, label_words: dict[str, list[str]], *, label_names, tokenizer) -> "Verbalizer":
        names = list(label_names)
        unknown = sorted(set(label_words) - set(names))
        if unknown:
            raise DataError(f"label_words names {unknown}, which the training data does not have as labels; "
                            f"its labels are {names}")
        missing = [name for name in names if not label_words.get(name)]
        if missing:
            raise DataError(f"label_words gives no word for label(s) {missing}; give one or more words for every "
                            f"label of {names}, e.g. --label-words " + ",".join(f"{n}=WORD" for n in names))
        ids, owner = [], {}
        for name in names:
            row = []
            for word in label_words[name]:
                token = single_token(word, tokenizer)
                if token in owner and owner[token] != name:
                    raise DataError(f"label word {word!r} is given for both {owner[token]!r} and {name!r}; "
                                    "a word can score one label only")
                owner[token] = name
                row.append(token)
            ids.append(row)
        return cls(ids)


def single_token(word: str, tokenizer) -> int:
    """The one vocabulary id of `word` as it reads after a space, or a DataError saying why not."""
    pieces = tokenizer.tokenize(" " + word)
    ids = tokenizer.convert_tokens_to_ids(pieces)
    if len(ids) == 1 and ids[0] != tokenizer.unk_token_id:
        return ids[0]
    if not pieces or ids == [tokenizer.unk_token_id]:
        raise DataError(f"label word {word!r} is not in this backbone's vocabulary (it reads as "
                        f"{tokenizer.unk_token!r}); pick a word the vocabulary has")
    raise DataError(f"label word {word!r} is {len(pieces)} word pieces in this backbone's vocabulary "
                    f"({' '.join(pieces)}); a cloze label word must be one piece, scored at the one [MASK]: pick "
                    "another word, or give several one-piece words for the label (WORD|WORD)")


class ClozeTemplate:
    """A parsed template: literal pieces and slots, tokenized once per tokenizer."""

    def __init__(self, template: str, tokenizer):
        problems = template_problems(template)
        if problems:
            raise ConfigError("ClassificationConfig", problems)
        self.tokenizer = tokenizer
        body = template.lstrip()
        body = body[len("{prompt}"):] if body.startswith("{prompt}") else body
        self.parts: list[tuple[str, list[int] | None]] = []  # (slot or "literal", literal ids)
        for piece in _PIECES.split(body.strip()):
            if piece in ("{text}", "{text_pair}"):
                self.parts.append((piece, None))
            elif piece == MASK:
                self.parts.append((MASK, [tokenizer.mask_token_id]))
            elif piece.strip():
                self.parts.append(("literal", tokenizer(piece, add_special_tokens=False)["input_ids"]))
        self.has_pair = any(slot == "{text_pair}" for slot, _ in self.parts)
        # The tokenizer's own special tokens around one sequence ([CLS] ... [SEP], <s> ... </s>).
        specials = tokenizer("", add_special_tokens=True)["input_ids"]
        opens = 1 if specials and specials[0] in (tokenizer.cls_token_id, tokenizer.bos_token_id) else 0
        self.before, self.after = specials[:opens], specials[opens:]
        self.fixed = sum(len(ids) for _, ids in self.parts if ids) + len(specials)

    def encode(self, text: str, pair: str | None, *, max_length: int) -> list[int]:
        """[CLS] template with the text (and pair) in it [SEP]; the texts truncated (longest first)
        to `max_length` word pieces in all."""
        return self.assemble(self.pieces(text), self.pieces(pair) if pair is not None else [], max_length=max_length)

    def assemble(self, text_ids: list[int], pair_ids: list[int], *, max_length: int) -> list[int]:
        """`encode` for texts already cut into word pieces (`pieces`)."""
        room = max_length - self.fixed
        if room < (2 if self.has_pair else 1):
            raise ConfigError("ClassificationConfig", [
                f"the cloze template takes {self.fixed} word pieces with the special tokens and [MASK], so "
                f"max_length={max_length} leaves no room for the text; raise --max-length or shorten the template"])
        texts = {"{text}": list(text_ids), "{text_pair}": list(pair_ids)}
        while len(texts["{text}"]) + len(texts["{text_pair}"]) > room:
            longest = max(texts, key=lambda slot: len(texts[slot]))
            texts[longest].pop()
        ids = [token for slot, literal in self.parts for token in (literal if literal is not None else texts[slot])]
        return self.before + ids + self.after

    def pieces(self, text: str) -> list[int]:
        return self.many_pieces([text])[0]

    def many_pieces(self, texts: list[str]) -> list[list[int]]:
        """Word pieces of each text, in one tokenizer call; a "[MASK]" typed in a text is not the mask."""
        if not texts:
            return []
        encoded = self.tokenizer([" " + t.strip() for t in texts], add_special_tokens=False)["input_ids"]
        mask, unknown = self.tokenizer.mask_token_id, self.tokenizer.unk_token_id
        return [[unknown if token == mask else token for token in ids] for ids in encoded]


def cloze_features(examples, *, tokenizer, max_length: int, labels, config) -> list[dict]:
    template = ClozeTemplate(config.template, tokenizer)
    has_pairs = any(e.text_pair is not None for e in examples)
    if has_pairs != template.has_pair:
        raise DataError(f"the data has {'sentence pairs' if has_pairs else 'single sentences'} but the cloze template "
                        f"{config.template!r} {'lacks' if has_pairs else 'has'} {{text_pair}}; "
                        + ("put {text_pair} in the template" if has_pairs else "take {text_pair} out of the template"))
    texts = template.many_pieces([e.text for e in examples])
    pairs = template.many_pieces([e.text_pair for e in examples]) if has_pairs else [[] for _ in examples]
    return [add_label({"input_ids": template.assemble(text, pair, max_length=max_length)}, e, labels)
            for e, text, pair in zip(examples, texts, pairs)]
