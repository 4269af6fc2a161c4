"""Action tokenizers: actions <-> token ids, so one language model can act in every embodiment.

* ``ResidualVQTokenizer``: learned residual VQ-VAE for continuous actions (GEA's choice);
* ``UniformBinTokenizer`` and ``FASTTokenizer``: alternatives for continuous actions;
* ``SemanticTokenizer``: discrete actions as their names in the LLM's own text tokens;
* ``UIGrammarTokenizer``: UI actions (``click X Y``, ``type "..."``, ``key K``) as constrained text;
* ``MultiEmbodimentTokenizer``: routes each embodiment to its tokenizer inside one LLM vocabulary.

Every ``decode`` is total: any id sequence gives a valid in-bounds action (see each class's rule).
"""

from gea.tokenizers.base import ActionTokenizer, load_tokenizer
from gea.tokenizers.fast import FASTTokenizer, chunk_actions
from gea.tokenizers.multi import MultiEmbodimentTokenizer
from gea.tokenizers.normalize import ActionStats
from gea.tokenizers.rvq import EmbodimentRVQTokenizer, ResidualVQTokenizer, RVQTrainConfig
from gea.tokenizers.rvq_model import RVQConfig, gea_rvq_config
from gea.tokenizers.semantic import SemanticTokenizer
from gea.tokenizers.ui_grammar import UIGrammarTokenizer
from gea.tokenizers.uniform import UniformBinTokenizer

__all__ = [
    "ActionStats",
    "ActionTokenizer",
    "EmbodimentRVQTokenizer",
    "FASTTokenizer",
    "MultiEmbodimentTokenizer",
    "RVQConfig",
    "RVQTrainConfig",
    "ResidualVQTokenizer",
    "SemanticTokenizer",
    "UIGrammarTokenizer",
    "UniformBinTokenizer",
    "chunk_actions",
    "gea_rvq_config",
    "load_tokenizer",
]
