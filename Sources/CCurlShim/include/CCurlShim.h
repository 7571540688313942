#ifndef CCURLSHIM_H
#define CCURLSHIM_H

/* Non-variadic doors to libcurl's variadic functions, which Swift cannot call.
 * Each wrapper fixes the type of the one argument the option takes. */

#include <curl/curl.h>

/* Options that take a long. */
CURLcode curlshim_setopt_long(CURL *handle, CURLoption option, long value);
/* Options that take a curl_off_t (the *_LARGE sizes). */
CURLcode curlshim_setopt_off_t(CURL *handle, CURLoption option, curl_off_t value);
/* Options that take a pointer: char *, void * or struct curl_slist *. */
CURLcode curlshim_setopt_ptr(CURL *handle, CURLoption option, const void *value);
/* CURLOPT_WRITEFUNCTION and CURLOPT_HEADERFUNCTION. */
CURLcode curlshim_setopt_write_cb(CURL *handle, CURLoption option, curl_write_callback callback);
/* CURLOPT_SOCKOPTFUNCTION, CURLOPT_CLOSESOCKETFUNCTION and CURLOPT_PREREQFUNCTION. */
CURLcode curlshim_setopt_sockopt_cb(CURL *handle, curl_sockopt_callback callback);
CURLcode curlshim_setopt_closesocket_cb(CURL *handle, curl_closesocket_callback callback);
CURLcode curlshim_setopt_prereq_cb(CURL *handle, curl_prereq_callback callback);
/* CURLINFO_PRIVATE. */
CURLcode curlshim_getinfo_ptr(CURL *handle, CURLINFO info, void **out);
/* Infos that give a long (CURLINFO_REQUEST_SIZE). */
CURLcode curlshim_getinfo_long(CURL *handle, CURLINFO info, long *out);
/* Multi options that take a long. */
CURLMcode curlshim_multi_setopt_long(CURLM *multi, CURLMoption option, long value);
/* CURLMOPT_SOCKETFUNCTION and its CURLMOPT_SOCKETDATA. */
CURLMcode curlshim_multi_setopt_socket_cb(CURLM *multi, curl_socket_callback callback, void *data);

/* The result of a CURLMSG_DONE message, which lives in a union. */
static inline CURLcode curlshim_msg_result(const CURLMsg *message) { return message->data.result; }

#endif
