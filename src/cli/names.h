/* A name (any 1..255 bytes of docs/protocol.md §1) as a file name in a data or download
 * directory: one that cannot escape the directory, hide among our own dot-files, or collide
 * with another name's.  Bytes outside [A-Za-z0-9_.-] (and a leading '.') become %XX, so
 * "report-2026.pdf" stays itself and "../x" becomes "%2E.%2Fx".  A name whose encoding would
 * pass CDHT_FILE_NAME_MAX bytes becomes "%%" and the hex BLAKE2b-256 of the name: no encoding
 * starts with "%%" ('%' itself is %25), so the two forms never meet, and the name is then kept
 * by the caller beside the file (the hash cannot be read back). */
#ifndef CDHT_NAMES_H
#define CDHT_NAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CDHT_FILE_NAME_MAX 200 /* bytes of an encoded name: room for a prefix within NAME_MAX (255) */

/* Writes the file name of the |len|-byte name |name| (borrowed) and a NUL into |dst|, which
 * must hold CDHT_FILE_NAME_MAX + 1 bytes.  Returns its length. */
size_t cdht_name_to_file(char *dst, const uint8_t *name, size_t len);

/* Reads a file name written by cdht_name_to_file back into |name| (capacity 255).  Returns the
 * name's length; 0 if |file| is not such a file name, or is the hashed form (whose name the
 * caller keeps elsewhere). */
size_t cdht_name_from_file(uint8_t name[255], const char *file);

/* Returns whether |file| is the hashed form (begins "%%"). */
bool cdht_name_file_hashed(const char *file);

#endif
