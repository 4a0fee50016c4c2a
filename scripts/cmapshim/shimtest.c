/* Test driver for the libcmap shim: loads libcmap.so.4 as mdadm 4.2 does and prints the answer. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
int main(void){
 void *h=dlopen("libcmap.so.4",RTLD_NOW|RTLD_LOCAL); if(!h){printf("nolib\n");return 2;}
 int (*i)(uint64_t*)=dlsym(h,"cmap_initialize"); int (*g)(uint64_t,const char*,char**)=dlsym(h,"cmap_get_string");
 uint64_t hd; char *v=NULL; i(&hd); int rv=g(hd,"totem.cluster_name",&v); printf("rv=%d name=%s\n",rv,v?v:"(null)"); return rv==1?0:1;}
