"""The built-in speech engines, registered in relax.speech.BUILTIN_ENGINES the way plugins register theirs."""
