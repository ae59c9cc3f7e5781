# Types of the C tokenizer built from _lexer.c (see its lex_doc for the meaning of each argument).
import numpy as np

def lex(
    chunk: bytes,
    room: int,
    g_words: list[int],
    passive_m: bytes,
    passive_words: int,
    plain_line: np.ndarray,
    plain_g: np.ndarray,
    plain_offset: np.ndarray,
    values: np.ndarray,
    other: np.ndarray,
    /,
) -> tuple[int, int, int, int]: ...
