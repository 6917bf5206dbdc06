# Parley: one image for every role (`start --role gateway|engine|projector|all`).
FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

FROM node:20-bookworm-slim
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
