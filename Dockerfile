# Parley: one image for every role (`start --role gateway|engine|projector|all`).
# Node 24 (LTS) on Debian 13 "trixie" (glibc 2.41): the gateway's native uWebSockets.js build for
# Node 22/24/25 (@btc-vision/uwebsockets.js) needs glibc >= 2.38, so a bookworm image (glibc 2.36)
# with Node 22 or 24 would have no native build and the gateway would refuse to start (it will not
# serve on the slow ws emulation without PARLEY_ALLOW_UWS_FALLBACK=1). Node 20 on bookworm still
# runs natively (@trufflesuite's build, glibc >= 2.27) but reached end of life in April 2026.
FROM node:24-trixie-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

FROM node:24-trixie-slim
WORKDIR /app
ENV NODE_ENV=production \
    PARLEY_HOST=0.0.0.0
COPY --chown=node:node . .
# The dependencies installed for this image's platform, over any node_modules in the build context.
COPY --from=deps --chown=node:node /app/node_modules ./node_modules
USER node
EXPOSE 8080
ENTRYPOINT ["node", "--max-semi-space-size=32", "bin/parley.mjs"]
CMD ["start"]
