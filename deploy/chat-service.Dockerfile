# The example chat service (examples/chat-service) under tenantscope, built from the repository root:
#   docker compose build chat-service
FROM node:24-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
RUN npm run build
# Inside the package, `tenantscope/register` resolves to ./register.js through package.json "exports"
# (Node's package self-reference), exactly what an app that installed tenantscope writes.
CMD ["node", "--require", "tenantscope/register", "examples/chat-service/server.js"]
