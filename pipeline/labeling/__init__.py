"""LLM labelling: prompt, response validation, cache, and the vllm / openai / import backends.

``pipeline.labeling.runner.label_run`` is the entry point; vllm is imported only inside
``vllm_backend`` (optional ``gpu`` extra).
"""
