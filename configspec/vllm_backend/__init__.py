"""vLLM as a serving engine: the model folder it loads, its server process, an HTTP client, a
Runner adapter that verifies through prompt logprobs, and the server-only baseline.

vLLM itself may live in another Python environment (its pins can conflict with configspec's):
configspec only starts it as a process and talks HTTP to it (docs/vllm.md).
"""
