"""Shared pieces for running the named peers in the benchmarks."""

from __future__ import annotations


def whitespace_tokenizer():
    """A datatrove ``WordTokenizer`` that splits on whitespace: datatrove's own tokenizers need nltk or
    spaCy, which are not installed, and the texts they get are already normalised."""
    from datatrove.utils.word_tokenizers import WordTokenizer

    class Whitespace(WordTokenizer):
        def word_tokenize(self, text):
            return text.split()

        def sent_tokenize(self, text):
            return [text]

        def span_tokenize(self, text):
            return [(0, len(text))]

    return Whitespace()
