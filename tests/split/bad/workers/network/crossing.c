/* A deliberately crossing include: the split check must reject it. */
#include "osh/process/cage.h"
