"""The house gazetteer's former home: it is now the knowledge base (`services.enrich.knowledge`).

These names stay so code written against the gazetteer keeps working.
"""

from services.enrich.knowledge import KnowledgeBase, KnowledgeEntry, name_key, slug

Gazetteer = KnowledgeBase
GazetteerEntry = KnowledgeEntry

__all__ = ["Gazetteer", "GazetteerEntry", "name_key", "slug"]
