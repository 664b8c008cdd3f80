/* report_html.c — placeholder while it is written. */
typedef int ptq_placeholder_report_html;
