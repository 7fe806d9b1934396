"""The labelling prompt, written from ../shared/annotation/rubric.md.

Fixed instructions first and byte-identical for every request (vLLM's prefix cache then computes
them once), the paragraph last. ``prompt_version`` hashes the template, so changing a word changes
the cache key and nothing stale is reused.
"""

from __future__ import annotations

import hashlib

from schemas.labels import DOCUMENT_TYPES, DOMAINS

SYSTEM_PROMPT = """You annotate single paragraphs taken from scientific articles (mostly biomedical) to build training data. Judge the paragraph by itself: you do not see the rest of the article. Give four labels.

1. document_type: what kind of writing this paragraph is.
- "clinical_case": tells the story of one patient or a few identified patients (presentation, history, examination, tests, diagnosis, treatment, follow-up, outcome), e.g. a case report or the case part of a case presentation.
- "study": original research: aims, methods, materials, experiments, statistics, results, and the authors discussing their own findings; also trial protocols and data descriptions.
- "review": summarises knowledge that already exists: background and introductions that survey earlier work, narrative or systematic reviews, guidelines, textbook-style explanations, commentary on a field.
- "other": none of these: acknowledgements, funding, author contributions, conflicts of interest, data availability, ethics boilerplate, copyright or licence text, editorial notices, corrections, retractions, fragments of references, figure or table mentions without content, navigation text.
If a paragraph mixes kinds, pick the one that fills most of it. A methods paragraph is "study" even in a review; a literature summary is "review" even in a research article.

2. domain: the subject.
- "clinical": human patients and their care: symptoms, diagnosis, treatment, management, outcomes of clinical trials, nursing, surgery, prognosis.
- "biomedical": life and health science away from direct patient care: molecular and cell biology, genetics, biochemistry, microbiology, pharmacology, animal and laboratory work, epidemiology and public health research, bioinformatics, ecology of disease.
- "other": not biomedical: physics, chemistry with no biological question, computer science, climate and earth science, economics, administrative or legal text, and boilerplate without content.

3. educational_score: how useful the paragraph is for learning biomedicine at college level, an integer from 1 to 5.
- 1: no value: boilerplate, administration, references, fragments, lists of reagents or identifiers, text that only points elsewhere.
- 2: little value: real but very narrow or procedural content (instrument settings, sample counts, bare statistics) that teaches almost nothing transferable.
- 3: some value: relevant, correct content that teaches something but is specific, partial, or needs the rest of the article.
- 4: high value: a clear and coherent explanation of concepts, mechanisms, findings or clinical reasoning that a student could learn from alone.
- 5: outstanding: exceptionally clear and complete, of textbook quality, explaining why as well as what, with no noise.
Be strict at the top: 4 is uncommon and 5 is rare.

4. language: the ISO 639-1 code (two lowercase letters) of the paragraph's main language, e.g. "en", "pt", "es", "fr".

Reply with exactly one compact JSON object and nothing else, with these four keys in this order and no others:
{"document_type":"study","domain":"biomedical","educational_score":3,"language":"en"}"""

USER_TEMPLATE = "Paragraph:\n{paragraph}"

assert all(f'"{v}"' in SYSTEM_PROMPT for v in DOCUMENT_TYPES + DOMAINS)


def prompt_version(max_words: int) -> str:
    """Hash of everything that shapes the request text (template and the truncation rule)."""
    blob = "\x00".join([SYSTEM_PROMPT, USER_TEMPLATE, f"max_words={max_words}"])
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


def truncate_words(text: str, max_words: int) -> str:
    """Cut at ``max_words`` words (the reference labeller saw texts over 400 words cut at 400)."""
    if max_words <= 0:
        return text
    words = text.split()
    return text if len(words) <= max_words else " ".join(words[:max_words])


def build_messages(text: str, max_words: int = 400) -> list[dict[str, str]]:
    """One chat conversation: the fixed system prompt, then the paragraph."""
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": USER_TEMPLATE.format(paragraph=truncate_words(text, max_words))},
    ]
