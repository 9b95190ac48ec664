/*
 * sax1-shim: LD_PRELOAD beside pidgin-sipe so that its XML parser sees documents again.
 *
 * pidgin-sipe's sipe-xml.c hands libxml2 a handler with only the SAX1 callbacks
 * (startElement, endElement, characters) but marked XML_SAX2_MAGIC. Debian 12's libxml2
 * 2.9.14 (deb12u4 and later) then calls neither kind of element callback, so every document
 * parses as empty. This shim passes such a handler on marked as SAX1 (`initialized = 1`),
 * which is how older libxml2 treated it; any other handler goes through unchanged. It
 * changes nothing in pidgin-sipe.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <libxml/parser.h>
#include <string.h>

int xmlSAXUserParseMemory(xmlSAXHandlerPtr sax, void *user_data, const char *buffer, int size)
{
	static int (*real)(xmlSAXHandlerPtr, void *, const char *, int);
	xmlSAXHandler sax1;

	if (!real)
		real = (int (*)(xmlSAXHandlerPtr, void *, const char *, int))dlsym(
			RTLD_NEXT, "xmlSAXUserParseMemory");
	if (sax && sax->initialized == XML_SAX2_MAGIC && !sax->startElementNs &&
	    sax->startElement) {
		memcpy(&sax1, sax, sizeof(sax1));
		sax1.initialized = 1;
		return real(&sax1, user_data, buffer, size);
	}
	return real(sax, user_data, buffer, size);
}
