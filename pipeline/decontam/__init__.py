"""Benchmark decontamination: which paragraphs share word n-grams with benchmark test items.

Pure Python, no Spark: ``readers`` turns benchmark files in their published formats into items,
``ngrams`` normalises text and hashes its word n-grams (datatrove's normaliser and hash), ``index``
maps n-gram hashes to the items holding them, and ``match`` finds, for one paragraph, every item
it overlaps. ``jobs/decontaminate.py`` runs this over the paragraphs table with Spark.
"""
