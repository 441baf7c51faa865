"""Sentiment models behind one interface: VADER, Hugging Face classifiers, the stack, registry versions."""
