/* ab_json.c — placeholder while it is written. */
typedef int ptq_placeholder_ab_json;
