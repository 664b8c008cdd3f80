/* html.c — placeholder while it is written. */
typedef int ptq_placeholder_html;
