"""Prompt injections, one module each; importing this package fills the registry."""
from ptune.injections import deep_attention
from ptune.injections.base import INJECTIONS, Injection, PromptPart, Prompts, register_injection
from ptune.injections.deep import DeepInjection
from ptune.injections.input import InputInjection

__all__ = ["INJECTIONS", "Injection", "PromptPart", "Prompts", "register_injection", "InputInjection", "DeepInjection",
           "deep_attention"]
