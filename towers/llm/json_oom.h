/* Telling jansson's out-of-memory failures from bad JSON (tokenizer*.c, config.c, weights.c).
 * json_load_file flags some allocation failures json_error_out_of_memory but returns NULL with
 * the error left blank for others (its lexer's first buffer, an object or array that cannot be
 * made or grown), while every syntax and I/O error it reports has a text: a blank error is an
 * allocation failure. (A string whose copy fails it reports as "invalid token", which no caller
 * can tell from a real syntax error.) */
#ifndef LR_LLM_JSON_OOM_H
#define LR_LLM_JSON_OOM_H

#include <jansson.h>

static inline int llm_json_oom(const json_error_t *je) {
    return json_error_code(je) == json_error_out_of_memory || je->text[0] == '\0';
}

#endif
