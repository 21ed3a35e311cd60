"""The engine room: the frozen backbone and its family table, the prompted backbone, task
adapters, the engine that runs every forward pass, the single-task model and the bank.

    text -> tokens (data/) -> Engine: PromptedBackbone + each row's TaskAdapter -> logits
"""
