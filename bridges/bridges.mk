# bridges.mk - the runtime bridges (included by the Makefile).
# Built next to the library, in $(B)/bridges, where agent/bridge.c looks for
# them; installed in $(LIBDIR)/reqctx/bridges.
NODE_API_H   ?= /usr/include/node/node_api.h
BRIDGE_FILES := $(B)/bridges/node/reqctx.js $(B)/bridges/python/sitecustomize.py \
                $(B)/bridges/ruby/reqctx.rb
# The Node addon needs node_api.h (Debian: libnode-dev); without it the Node
# bridge is not built and node runs with the agent alone.
ifneq ($(wildcard $(NODE_API_H)),)
BRIDGE_FILES += $(B)/bridges/node/reqctx_node.node
endif
# The Python extension (the bridge's calls into the agent at a C call's
# cost) needs Python.h (Debian: python3-dev); without it the bridge calls
# the agent through ctypes. One stable-ABI build serves every CPython 3.
PY_INCLUDE ?= $(shell python3 -c 'import sysconfig; print(sysconfig.get_paths()["include"])' 2>/dev/null)
ifneq ($(wildcard $(PY_INCLUDE)/Python.h),)
BRIDGE_FILES += $(B)/bridges/python/_reqctx.abi3.so
endif

.PHONY: bridges install-bridges uninstall-bridges
all: bridges
bridges: $(BRIDGE_FILES)

$(B)/bridges/node/reqctx_node.node: bridges/node/reqctx_node.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARNINGS) -fPIC -shared -isystem $(dir $(NODE_API_H)) \
		-DNODE_GYP_MODULE_NAME=reqctx_node -o $@ $< -ldl

$(B)/bridges/python/_reqctx.abi3.so: bridges/python/_reqctx.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARNINGS) -fPIC -shared -isystem $(PY_INCLUDE) -o $@ $< -ldl

$(B)/bridges/%: bridges/%
	@mkdir -p $(dir $@)
	cp $< $@

install: install-bridges
install-bridges: bridges
	install -d $(DESTDIR)$(LIBDIR)/reqctx/bridges/node \
		$(DESTDIR)$(LIBDIR)/reqctx/bridges/python $(DESTDIR)$(LIBDIR)/reqctx/bridges/ruby
	for f in $(patsubst $(B)/bridges/%,%,$(BRIDGE_FILES)); do \
		install -m 0644 $(B)/bridges/$$f $(DESTDIR)$(LIBDIR)/reqctx/bridges/$$f || exit 1; \
	done

uninstall: uninstall-bridges
uninstall-bridges:
	rm -rf $(DESTDIR)$(LIBDIR)/reqctx/bridges
