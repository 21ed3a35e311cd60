"""What one input of a task is, declared once: the server's request check and schema, `/v1/tasks`,
the playground's fields and the command line's reader all read these declarations. A task names its
form (`Task.input_form`); a new form is one entry here.

A form's `shape` says how its fields make one input: `string` (one field, one input per line),
`list` (several fields, line i of each makes input i), `object` (one input of named fields)."""
from __future__ import annotations

from dataclasses import asdict, dataclass

SHAPES = ("string", "list", "object")
TEXT = {"type": "string", "minLength": 1}


@dataclass(frozen=True)
class Field:
    key: str
    label: str
    hint: str


@dataclass(frozen=True)
class InputForm:
    name: str
    help: str
    """What a request gives per input (error messages, `/v1/tasks`)."""
    shape: str
    fields: tuple[Field, ...]
    optional: tuple[str, ...] = ()
    """Keys an `object` input may carry beside its fields (they are not read as text)."""

    def schema(self) -> dict:
        """The JSON schema of one input."""
        if self.shape == "string":
            return TEXT
        if self.shape == "list":
            return {"type": "array", "items": TEXT, "minItems": len(self.fields), "maxItems": len(self.fields)}
        return {"type": "object", "required": [f.key for f in self.fields], "additionalProperties": False,
                "properties": {**{f.key: TEXT for f in self.fields}, **{k: {"type": "string"} for k in self.optional}}}

    def texts(self, item) -> list[str] | None:
        """The texts of one request input in field order, or None when it does not have this form."""
        if self.shape == "string":
            return [item] if isinstance(item, str) else None
        if self.shape == "list":
            ok = isinstance(item, list) and len(item) == len(self.fields) and all(isinstance(t, str) for t in item)
            return list(item) if ok else None
        keys = [f.key for f in self.fields]
        ok = isinstance(item, dict) and set(item) <= {*keys, *self.optional} and \
            all(isinstance(item.get(k), str) for k in keys)
        return [item[k] for k in keys] if ok else None

    def describe(self) -> dict:
        """What the playground builds its fields from."""
        return {"shape": self.shape, "fields": [asdict(f) for f in self.fields]}


INPUT_FORMS: dict[str, InputForm] = {form.name: form for form in (
    InputForm("text", "a string per input", "string", (Field("text", "Texts", "one input per line"),)),
    InputForm("pair", "a [text, text_pair] list of two strings per input", "list",
              (Field("first", "First texts", "one per line"),
               Field("second", "Second texts", "line i pairs with line i above"))),
    InputForm("words", "a string per input (plain text; entities come back with character offsets)", "string",
              (Field("text", "Sentences", "one input per line"),)),
    InputForm("qa", 'an object {"question": ..., "context": ...} per input (the answer comes back with character '
                    "offsets)", "object",
              (Field("question", "Question", "one question"), Field("context", "Context", "the passage to answer from")),
              optional=("id",)),
)}
