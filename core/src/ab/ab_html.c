/* ab_html.c — placeholder while it is written. */
typedef int ptq_placeholder_ab_html;
