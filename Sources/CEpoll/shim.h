// epoll and eventfd for the own HTTP/1.1 client's loop (Sources/ChatbotTesterHTTP/HTTP1);
// Glibc's Swift module does not carry them. Linux only: elsewhere the own client is off.
#ifdef __linux__
#include <sys/epoll.h>
#include <sys/eventfd.h>
#endif
