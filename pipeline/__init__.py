"""pmc-enrich: PMC Open Access → curated, labelled pretraining data."""

__version__ = "0.1.0"
