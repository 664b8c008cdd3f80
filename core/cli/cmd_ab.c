/* cmd_ab.c — placeholder while it is written. */
typedef int ptq_placeholder_cmd_ab;
